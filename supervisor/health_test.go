package supervisor

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/palyra/palyra/internal/grpcserve"
)

func TestNextProbeWaitsForTheFirstDue(t *testing.T) {
	p := Policy{Tick: 500 * time.Millisecond, HealthyProbe: 5 * time.Second}
	now := time.Date(2026, 11, 22, 14, 30, 0, 0, time.UTC)
	fine, sick, fresh := &run{}, &run{}, &run{}
	last := map[*run]time.Time{fine: now.Add(-2 * time.Second), sick: now.Add(-200 * time.Millisecond)}
	cases := []struct {
		name    string
		targets []probeTarget
		want    time.Duration
	}{
		{"nothing to probe", nil, 5 * time.Second},
		{"a healthy service", []probeTarget{{run: fine, healthy: true}}, 3 * time.Second},
		{"and one not yet healthy", []probeTarget{{run: fine, healthy: true}, {run: sick}}, 300 * time.Millisecond},
		{"and one never probed", []probeTarget{{run: fine, healthy: true}, {run: fresh}}, 0},
	}
	for _, c := range cases {
		if got := p.nextProbeIn(c.targets, last, now); got != c.want {
			t.Errorf("%s: next probe in %v, want %v", c.name, got, c.want)
		}
	}
}

func TestCheckHealthShowsTheServicesReason(t *testing.T) {
	srv := grpcserve.New(grpcserve.Config{Service: "test", HealthName: "palyra.test", Logger: slog.New(slog.DiscardHandler)})
	srv.SetHealth(false, "Chromium not found: apt-get install chromium")
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	t.Cleanup(func() { cancel(); <-done })
	conn, err := dialHealth(lis.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if h, detail := checkHealth(context.Background(), conn); h != HealthUnhealthy || detail != "Chromium not found: apt-get install chromium" {
		t.Errorf("checkHealth = %v %q, want unhealthy with the service's reason", h, detail)
	}
	srv.SetHealth(true, "")
	if h, detail := checkHealth(context.Background(), conn); h != HealthHealthy || detail != "" {
		t.Errorf("checkHealth = %v %q, want healthy", h, detail)
	}
	if got := clipDetail(strings.Repeat("é", 400)); len(got) > maxHealthDetail+len("…") || !utf8.ValidString(got) {
		t.Errorf("clipDetail kept %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
}
