package platform_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/palyra/palyra/connectors"
	"github.com/palyra/palyra/connectors/host"
	"github.com/palyra/palyra/connectors/outbox"
	"github.com/palyra/palyra/connectors/platform"
	"github.com/palyra/palyra/connectors/plugin"
	"github.com/palyra/palyra/connectors/providers/echo"
)

// The test binary doubles as the Echo plugin: run with these arguments it serves Echo.
const pluginArg = "serve-test-connector"

func TestMain(m *testing.M) {
	switch {
	case len(os.Args) == 2 && os.Args[1] == pluginArg:
		plugin.Serve(echo.New("bench"))
		return
	case len(os.Args) == 3 && os.Args[1] == pluginArg && os.Args[2] == "send-only":
		plugin.Serve(oneByOne{echo.New("bench")})
		return
	}
	if len(os.Args) == 3 && os.Args[1] == pluginArg { // Echo under the kind given
		plugin.Serve(named{echo.New("test"), os.Args[2]})
		return
	}
	os.Exit(m.Run())
}

// echoPlugin is Echo's plugin with palyrad's restart policy, except that every run counts
// as stable, so each kill is met with the first, shortest backoff.
func echoPlugin(args ...string) *host.Plugin {
	return host.New(host.Spec{Kind: echo.Kind, Path: os.Args[0], Args: append([]string{pluginArg}, args...)}, host.Options{StableAfter: time.Nanosecond})
}

// setup is how a benchmark's platform is made.
type setup struct {
	sendOnly bool // the plugin implements Send only, not SendBatch
	syncEach bool // connectors.db commits every write and result alone: fsync per message
}

// pluginPlatform runs a platform on a fresh connectors.db with Echo in a plugin process and
// one instance, echo:bench.
func pluginPlatform(b *testing.B) (*platform.Platform, *host.Plugin) {
	return pluginPlatformWith(b, setup{})
}

func pluginPlatformWith(b *testing.B, s setup) (*platform.Platform, *host.Plugin) {
	b.Helper()
	st, err := outbox.OpenWith(filepath.Join(b.TempDir(), outbox.FileName), outbox.Options{SyncEach: s.syncEach})
	if err != nil {
		b.Fatal(err)
	}
	plug := echoPlugin()
	if s.sendOnly {
		plug = echoPlugin("send-only")
	}
	p := platform.New(platform.Config{Store: st, Plugins: map[string]platform.Plugin{echo.Kind: plug}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done; st.Close() })
	if _, err := p.Add(context.Background(), "echo:bench", nil); err != nil {
		b.Fatal(err)
	}
	waitFor(b, p, func(v platform.View) bool { return v.Readiness == connectors.Ready })
	return p, plug
}

// waitFor waits, on the platform's change signal, until echo:bench's view satisfies cond.
func waitFor(b *testing.B, p *platform.Platform, cond func(platform.View) bool) {
	b.Helper()
	deadline := time.After(2 * time.Minute)
	for {
		changed := p.Changed()
		v, err := p.Get("echo:bench")
		if err != nil {
			b.Fatal(err)
		}
		if cond(v) {
			return
		}
		select {
		case <-changed:
		case <-time.After(50 * time.Millisecond): // counters settle after the last signal
		case <-deadline:
			b.Fatalf("gave up waiting; echo:bench is %+v", v.Instance)
		}
	}
}

// BenchmarkSendThroughPlugin is the whole outbound path: 128 senders queue messages (each
// acknowledged once its transaction is on disk), the platform sends them and Echo, in its
// own process, delivers them over go-plugin; the clock stops when the last delivery is
// recorded on disk. Messages of one conversation go one at a time, in order, so one
// conversation is bound by a round trip to the plugin; many conversations go side by side,
// in SendBatch calls, their results group-committed.
//
// The variants compare: send-only is a plugin without SendBatch (one Send per message);
// fsync-per-message gives every enqueue and every result a transaction, so two fsyncs, of
// its own, the design the group commit replaces.
func BenchmarkSendThroughPlugin(b *testing.B) {
	for _, bc := range []struct {
		name  string
		convs int
		setup setup
	}{
		{"conversations=1", 1, setup{}},
		{"conversations=256", 256, setup{}},
		{"send-only/conversations=256", 256, setup{sendOnly: true}},
		{"fsync-per-message/conversations=256", 256, setup{syncEach: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p, _ := pluginPlatformWith(b, bc.setup)
			const senders = 128
			var next atomic.Int64
			b.ResetTimer()
			var wg sync.WaitGroup
			for range senders {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						out := platform.Outbound{ConversationID: fmt.Sprint("c", int(i)%bc.convs), Text: fmt.Sprint("message ", i)}
						if _, err := p.Send(context.Background(), "echo:bench", out); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			waitFor(b, p, func(v platform.View) bool { return v.Counts.Delivered >= uint64(b.N) })
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkQueueGroupCommit is only the durable enqueue (the instance is paused): many
// envelopes share one fsync'd transaction.
func BenchmarkQueueGroupCommit(b *testing.B) {
	p, _ := pluginPlatform(b)
	if _, err := p.SetPaused(context.Background(), "echo:bench", true); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(8) // 8×GOMAXPROCS senders
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.Send(context.Background(), "echo:bench", platform.Outbound{ConversationID: "general", Text: "queued"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkQueueFsyncPerMessage is the design the group commit replaces, for comparison:
// one bbolt transaction, so one fsync, per message, from as many senders.
func BenchmarkQueueFsyncPerMessage(b *testing.B) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "naive.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	body := []byte(`{"instance":"echo:bench","conversation":"general","text":"queued"}`)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			err := db.Update(func(tx *bolt.Tx) error {
				bk, err := tx.CreateBucketIfNotExists([]byte("outbox"))
				if err != nil {
					return err
				}
				seq, _ := bk.NextSequence()
				return bk.Put(fmt.Appendf(nil, "%016x", seq), body)
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkDeliveryLatency sends 100 messages a second, one at a time, and reports how long
// each took from its queueing to its delivery through the plugin.
func BenchmarkDeliveryLatency(b *testing.B) {
	p, _ := pluginPlatform(b)
	const every = 10 * time.Millisecond
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if _, err := p.Send(context.Background(), "echo:bench", platform.Outbound{ConversationID: "general", Text: fmt.Sprint("paced ", i)}); err != nil {
			b.Fatal(err)
		}
		waitFor(b, p, func(v platform.View) bool { return v.Counts.Delivered >= uint64(i+1) })
		lat = append(lat, time.Since(start))
		time.Sleep(time.Until(start.Add(every)))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkPluginLaunch is a plugin process from exec to its first answered call.
func BenchmarkPluginLaunch(b *testing.B) {
	for range b.N {
		plug := echoPlugin()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { plug.Run(ctx); close(done) }()
		if _, err := plug.Describe(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
		<-done
	}
}

// BenchmarkPluginRestartAfterKill is a plugin killed with SIGKILL until a send through its
// successor is delivered: the crash noticed, the process started again, the instance
// started in it.
func BenchmarkPluginRestartAfterKill(b *testing.B) {
	p, plug := pluginPlatform(b)
	b.ResetTimer()
	for i := range b.N {
		pid := plug.Facts().PID
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		if _, err := p.Send(context.Background(), "echo:bench", platform.Outbound{ConversationID: "general", Text: fmt.Sprint("after kill ", i)}); err != nil {
			b.Fatal(err)
		}
		waitFor(b, p, func(v platform.View) bool { return v.Counts.Delivered >= uint64(i+1) })
		if plug.Facts().PID == pid {
			b.Fatal("delivered by the killed process")
		}
	}
}
