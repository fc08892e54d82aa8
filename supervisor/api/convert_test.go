package api

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/supervisor/logs"
)

func TestSnapshotRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 4, 5, 123456789, time.FixedZone("CET", 3600))
	exit := supervisor.Exit{At: at.Add(-time.Minute), Code: 1, Ran: 3*time.Minute + 2123456789}
	// A float64 of seconds holds this to the nanosecond only when read back with rounding.
	killed := supervisor.Exit{At: at.Add(-time.Hour), Code: -1, Signal: "SIGKILL", Ran: 38*time.Hour + 45*time.Minute + 26794703114}
	full := supervisor.ServiceStatus{
		Name:         "daemon",
		State:        supervisor.StateBackoff,
		Health:       supervisor.HealthUnhealthy,
		HealthDetail: "NOT_SERVING",
		PID:          4242,
		Addrs:        map[string]string{"admin": "127.0.0.1:7443", "grpc": "127.0.0.1:7444"},
		StartedAt:    at.Add(-2 * time.Minute),
		Restarts:     7,
		Attempt:      3,
		NextRestart:  at.Add(2 * time.Second),
		LastExit:     &exit,
		RecentExits:  []supervisor.Exit{exit, killed},
		CPUPercent:   12.5,
		RSSBytes:     64 << 20,
		Command:      []string{"/usr/bin/palyrad", "--admin-addr", "127.0.0.1:0"},
		LogFile:      "/home/op/.palyra/logs/daemon.log",
		DroppedLines: 99,
		Reason:       "exit 1 after 0.2s: address already in use",
		Version:      "1.2.3",
	}
	tests := []struct {
		name string
		snap supervisor.Snapshot
	}{
		{"empty", supervisor.Snapshot{}},
		{"fully populated", supervisor.Snapshot{
			GeneratedAt: at,
			Overall:     supervisor.OverallDegraded,
			Reasons:     []string{"daemon: backoff", "browserd: stopped"},
			Services:    []supervisor.ServiceStatus{full, {Name: "browserd", State: supervisor.StateStopped, Health: supervisor.HealthUnknown}},
			Supervisor: supervisor.Info{
				PID: 4000, Version: "0.1.0", Home: "/home/op/.palyra", Socket: "/home/op/.palyra/supervisor.sock",
				StartedAt: at.Add(-time.Hour), CPUPercent: 0.25, RSSBytes: 20 << 20,
			},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wire, err := proto.Marshal(snapshotToProto(tc.snap))
			if err != nil {
				t.Fatal(err)
			}
			var p palyrav1.Snapshot
			if err := proto.Unmarshal(wire, &p); err != nil {
				t.Fatal(err)
			}
			got := snapshotFromProto(&p)
			if want := normalize(tc.snap); !reflect.DeepEqual(normalize(got), want) {
				t.Errorf("round trip changed the snapshot:\n got %s\nwant %s", dump(got), dump(tc.snap))
			}
		})
	}
}

// normalize turns every time in s into UTC, so DeepEqual compares instants as Equal does.
func normalize(s supervisor.Snapshot) supervisor.Snapshot {
	s.GeneratedAt = s.GeneratedAt.UTC()
	s.Supervisor.StartedAt = s.Supervisor.StartedAt.UTC()
	services := make([]supervisor.ServiceStatus, len(s.Services))
	for i, svc := range s.Services {
		svc.StartedAt = svc.StartedAt.UTC()
		svc.NextRestart = svc.NextRestart.UTC()
		if svc.LastExit != nil {
			e := *svc.LastExit
			e.At = e.At.UTC()
			svc.LastExit = &e
		}
		exits := make([]supervisor.Exit, len(svc.RecentExits))
		for j, e := range svc.RecentExits {
			e.At = e.At.UTC()
			exits[j] = e
		}
		if svc.RecentExits != nil {
			svc.RecentExits = exits
		}
		services[i] = svc
	}
	if s.Services != nil {
		s.Services = services
	}
	return s
}

func TestExitDescriptionTravels(t *testing.T) {
	e := supervisor.Exit{Code: -1, Signal: "SIGKILL", Ran: 3*time.Minute + 2*time.Second}
	if got, want := exitToProto(e).GetDescription(), "SIGKILL after 3m2s"; got != want {
		t.Errorf("description = %q, want %q", got, want)
	}
}

func TestLinesRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 4, 5, 123456789, time.UTC)
	in := []logs.Line{
		{Seq: 1, Time: at, Service: "daemon", Stream: logs.Stdout, Level: "info", Text: "listening"},
		{Seq: 1 << 40, Time: at.Add(time.Nanosecond), Service: "browserd", Stream: logs.Supervisor, Text: "started pid 42"},
	}
	got := linesFromProto(linesToProto(in))
	if len(got) != len(in) {
		t.Fatalf("got %d lines, want %d", len(got), len(in))
	}
	for i := range in {
		g, w := got[i], in[i]
		if !g.Time.Equal(w.Time) {
			t.Errorf("line %d time = %v, want %v", i, g.Time, w.Time)
		}
		g.Time, w.Time = time.Time{}, time.Time{}
		if g != w {
			t.Errorf("line %d = %+v, want %+v", i, g, w)
		}
	}
}

// dump prints s with its exits in full: Exit's String hides the nanoseconds.
func dump(s supervisor.Snapshot) string {
	out := fmt.Sprintf("%+v", s)
	for _, svc := range s.Services {
		if svc.LastExit != nil {
			out += fmt.Sprintf("\n  %s last exit %#v", svc.Name, *svc.LastExit)
		}
		for _, e := range svc.RecentExits {
			out += fmt.Sprintf("\n  %s recent exit %#v", svc.Name, e)
		}
	}
	return out
}
