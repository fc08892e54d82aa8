package main

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/palyra/palyra/supervisor"
)

// TestStatusJSON checks the documented shape of `status --json`: lists and maps are never
// null, supervisor is null without a supervisor, times are RFC 3339.
func TestStatusJSON(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		snap supervisor.Snapshot
		want string
	}{
		{
			name: "no supervisor",
			snap: supervisor.Snapshot{Overall: supervisor.OverallDown, Reasons: []string{"supervisor not running on /h"}},
			want: `{"overall":"down","reasons":["supervisor not running on /h"],"supervisor":null,"services":[]}`,
		},
		{
			name: "running",
			snap: supervisor.Snapshot{
				Overall:    supervisor.OverallHealthy,
				Supervisor: supervisor.Info{PID: 4100, Version: "0.1.0", Home: "/h", Socket: "/h/supervisor.sock", CPUPercent: 1, RSSBytes: 1},
				Services: []supervisor.ServiceStatus{{
					Name: "daemon", State: supervisor.StateRunning, Health: supervisor.HealthHealthy, PID: 4123,
					Addrs: map[string]string{"admin": "127.0.0.1:7443"}, StartedAt: now.Add(-312400 * time.Millisecond),
					Restarts: 1, CPUPercent: 0.5, RSSBytes: 14000000, Version: "0.1.0", LogFile: "/h/logs/daemon.log",
					LastExit: &supervisor.Exit{At: now.Add(-time.Hour), Code: -1, Signal: "SIGKILL", Ran: 80200 * time.Millisecond},
				}},
			},
			want: `{"overall":"healthy","reasons":[],
				"supervisor":{"pid":4100,"version":"0.1.0","home":"/h","socket":"/h/supervisor.sock"},
				"services":[{"name":"daemon","state":"running","health":"healthy","pid":4123,
					"addrs":{"admin":"127.0.0.1:7443"},"uptime_s":312.4,"restarts":1,"attempt":0,"next_restart":null,
					"last_exit":{"at":"2026-11-23T11:00:00Z","code":-1,"signal":"SIGKILL","ran_s":80.2,"description":"SIGKILL after 1m20s"},
					"cpu_percent":0.5,"rss_bytes":14000000,"dropped_lines":0,"reason":"","version":"0.1.0","log_file":"/h/logs/daemon.log"}]}`,
		},
		{
			name: "backoff",
			snap: supervisor.Snapshot{
				Overall:    supervisor.OverallDown,
				Reasons:    []string{"daemon: backoff"},
				Supervisor: supervisor.Info{PID: 4100},
				Services: []supervisor.ServiceStatus{{
					Name: "daemon", State: supervisor.StateBackoff, Health: supervisor.HealthUnknown, Attempt: 2,
					NextRestart: now.Add(1500 * time.Millisecond), Reason: "exit 1 after 0.2s", DroppedLines: 3,
					// A stale start time without a process is no uptime.
					StartedAt: now.Add(-time.Minute),
				}},
			},
			want: `{"overall":"down","reasons":["daemon: backoff"],
				"supervisor":{"pid":4100,"version":"","home":"","socket":""},
				"services":[{"name":"daemon","state":"backoff","health":"unknown","pid":0,
					"addrs":{},"uptime_s":0,"restarts":0,"attempt":2,"next_restart":"2026-11-23T12:00:01.5Z",
					"last_exit":null,"cpu_percent":0,"rss_bytes":0,"dropped_lines":3,"reason":"exit 1 after 0.2s","version":"","log_file":""}]}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.Marshal(toStatusJSON(tc.snap, now))
			if err != nil {
				t.Fatal(err)
			}
			var want bytes.Buffer
			if err := json.Compact(&want, []byte(tc.want)); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Errorf("status JSON:\n got %s\nwant %s", got, want.Bytes())
			}
		})
	}
}
