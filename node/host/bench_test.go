package host

import (
	"context"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/palyra/palyra/node/capabilities"
	"github.com/palyra/palyra/node/gatewaytest"
	"github.com/palyra/palyra/node/identity"
	"github.com/palyra/palyra/node/mediation"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// BenchmarkEchoRoundTrip measures a call pushed down a live session over loopback mTLS until
// its result is back at the gateway: the node's share of DESIGN §9's call round trip.
func BenchmarkEchoRoundTrip(b *testing.B) {
	gw := gatewaytest.Start(b, gatewaytest.Options{})
	dir := identity.At(filepath.Join(b.TempDir(), "node"))
	gw.Enroll(b, dir, time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, dir, RunConfig{Capabilities: capabilities.New(capabilities.Config{Mediator: mediation.Deny})})
	}()
	defer func() {
		cancel()
		<-done
	}()
	var s *gatewaytest.Session
	select {
	case s = <-gw.Sessions:
	case <-time.After(gatewaytest.Deadline):
		b.Fatal("the node did not connect")
	}
	input := []byte(`{"ping":"pong"}`)
	took := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		s.Invoke(b, &palyrav1.CapabilityInvocation{CallId: strconv.Itoa(i), Capability: capabilities.Echo, Input: input, MaxOutputBytes: 1024})
		if r := s.Result(b); !r.GetOk() {
			b.Fatal(r.GetError())
		}
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
}
