package nodes

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/palyra/palyra/daemon/store"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// reportLatency reports the median and 99th percentile of took.
func reportLatency(b *testing.B, took []time.Duration, unit time.Duration, name string) {
	if len(took) == 0 {
		return
	}
	slices.Sort(took)
	at := func(q float64) float64 { return float64(took[int(q*float64(len(took)-1))]) / float64(unit) }
	b.ReportMetric(at(0.50), "p50-"+name)
	b.ReportMetric(at(0.99), "p99-"+name)
}

// BenchmarkListDevices10k measures the server's time for one page of 10,000 devices, some
// online, some stale, some revoked.
func BenchmarkListDevices10k(b *testing.B) {
	g := startGateway(b, options{noRun: true})
	now := time.Now()
	platforms := []string{"linux/amd64", "linux/arm64", "darwin/arm64", "windows/amd64"}
	g.rt.mu.Lock()
	for i := range 10_000 {
		rec := store.Device{
			ID: fmt.Sprintf("dev-%012d", i), Name: fmt.Sprintf("host-%05d", (i*7919)%10_000),
			Platform: platforms[i%len(platforms)], Trust: TrustTrusted, PairedAt: now,
			CertExpiresAt: now.Add(time.Duration(i) * time.Second), LastSeen: now.Add(-time.Duration(i%977) * time.Minute),
			Capabilities: []store.Capability{{Name: "echo", Available: true}, {Name: "system.health", Available: i%13 != 0}},
		}
		if i%50 == 0 {
			rec.Trust = TrustRevoked
		}
		d := newDevice(rec)
		if i%3 == 0 {
			d.conn = &conn{}
			d.stale = i%30 == 0
		}
		g.rt.addDeviceLocked(d)
	}
	g.rt.mu.Unlock()

	for _, bc := range []struct {
		name string
		req  *palyrav1.ListDevicesRequest
	}{
		{"default", &palyrav1.ListDevicesRequest{}},
		{"filter", &palyrav1.ListDevicesRequest{Filter: "HOST-01", Sort: "last_seen", Descending: true}},
		{"presence-page10", &palyrav1.ListDevicesRequest{Sort: "presence", PageSize: 100, PageToken: pageToken(900)}},
		{"page1000", &palyrav1.ListDevicesRequest{Sort: "cert_expiry", PageSize: 1000}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var took []time.Duration
			for b.Loop() {
				start := time.Now()
				reply, err := g.rt.ListDevices(bc.req)
				took = append(took, time.Since(start))
				if err != nil || reply.GetTotal() == 0 {
					b.Fatalf("list: %v %v", reply.GetTotal(), err)
				}
			}
			reportLatency(b, took, time.Millisecond, "ms")
		})
	}
}

// BenchmarkInvokeRoundTrip measures a capability call from Invoke to its result, through a
// node answering over loopback mutual TLS.
func BenchmarkInvokeRoundTrip(b *testing.B) {
	g := startGateway(b, options{})
	n := newNode(b, "bench")
	g.pair(g.client(nil), n)
	s := connect(b, g.client(n.tlsCert()), n.deviceID)
	go func() {
		for {
			m, err := s.stream.Recv()
			if err != nil {
				return
			}
			call := m.GetCall()
			if err := s.send(&palyrav1.NodeMessage{Msg: &palyrav1.NodeMessage_Result{Result: &palyrav1.CallResult{
				CallId: call.GetCallId(), Ok: true, Output: call.GetInput()}}}); err != nil {
				return
			}
		}
	}()
	req := &palyrav1.InvokeRequest{DeviceId: n.deviceID, Capability: "echo", Input: []byte(`{"text":"ping"}`)}
	var took []time.Duration
	for b.Loop() {
		start := time.Now()
		call, err := g.rt.Invoke(b.Context(), req, "bench")
		took = append(took, time.Since(start))
		if err != nil || call.GetState() != store.CallSucceeded {
			b.Fatalf("invoke: %v %v", call, err)
		}
	}
	reportLatency(b, took, time.Microsecond, "µs")
}

// BenchmarkPairings measures whole pairings: begin, complete, the operator's approval and
// the node's wait for its certificate. Minting the code and the node's key are outside.
func BenchmarkPairings(b *testing.B) {
	g := startGateway(b, options{})
	c := g.client(nil)
	start := time.Now()
	var outside time.Duration
	for b.Loop() {
		b.StopTimer()
		mark := time.Now()
		n, code := newNode(b, "bench"), g.mint()
		outside += time.Since(mark)
		b.StartTimer()
		if _, err := g.request(c, n, code); err != nil {
			b.Fatal(err)
		}
		g.decide(n, true)
		if st := g.await(c, n); st.GetState() != store.PairingApproved {
			b.Fatalf("pairing: %v", st)
		}
	}
	b.ReportMetric(float64(b.N)/(time.Since(start)-outside).Seconds(), "pairings/s")
}
