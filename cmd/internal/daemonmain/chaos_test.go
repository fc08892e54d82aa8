package daemonmain_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/palyra/palyra/daemon/access"
	"github.com/palyra/palyra/internal/adminclient"
	"github.com/palyra/palyra/internal/grpcserve/servicetest"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// chaosResult is what a burst through kills came to.
type chaosResult struct {
	sent, delivered, lost, duplicated int
	orphans                           []int // plugin pids still alive after their palyrad was killed
	elapsed                           time.Duration
}

// chaosDaemon is palyrad on one home, started again after each kill.
type chaosDaemon struct {
	tb   testing.TB
	home string
	mu   sync.Mutex
	proc *servicetest.Process
	c    *adminclient.Client
}

func (d *chaosDaemon) start() {
	p, l := servicetest.Start(d.tb, palyrad, nil, "--home", d.home, "--admin-addr", "127.0.0.1:0", "--node-addr", "127.0.0.1:0")
	token, err := os.ReadFile(filepath.Join(d.home, access.AdminTokenFile))
	if err != nil {
		d.tb.Fatal(err)
	}
	c, err := adminclient.Dial(l.Addrs["admin"], strings.TrimSpace(string(token)))
	if err != nil {
		d.tb.Fatal(err)
	}
	d.tb.Cleanup(func() { c.Close() })
	d.mu.Lock()
	d.proc, d.c = p, c
	d.mu.Unlock()
}

func (d *chaosDaemon) client() *adminclient.Client {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.c
}

// kill SIGKILLs palyrad, waits for it to be gone and starts it again.
func (d *chaosDaemon) kill() {
	d.mu.Lock()
	p := d.proc
	d.mu.Unlock()
	if err := p.Cmd.Process.Kill(); err != nil {
		d.tb.Fatal(err)
	}
	p.Wait(d.tb)
	d.start()
}

func (d *chaosDaemon) connector(ctx context.Context) (*palyrav1.Connector, error) {
	return d.client().Channels.GetConnector(ctx, &palyrav1.GetConnectorRequest{Id: "echo:chaos"})
}

// chaos sends n messages through an Echo connector of a real palyrad, with a ledger of what
// Echo delivered, while it SIGKILLs the Echo plugin pluginKills times and palyrad itself
// daemonKills times; senders retry a refused send with the same envelope id, as a client
// of the API should. It then counts the ledger: each message once.
func chaos(tb testing.TB, n, pluginKills, daemonKills int) chaosResult {
	d := &chaosDaemon{tb: tb, home: tb.TempDir()}
	d.start()
	ledger := filepath.Join(d.home, "echo-ledger")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := d.client().Channels.AddConnector(ctx, &palyrav1.AddConnectorRequest{Id: "echo:chaos", Config: map[string]string{"ledger": ledger}}); err != nil {
		tb.Fatal(err)
	}

	began := time.Now()
	var next, queued atomic.Int64
	var senders sync.WaitGroup
	for range 32 {
		senders.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				req := &palyrav1.ChannelSendRequest{Id: "echo:chaos", EnvelopeId: fmt.Sprint("m-", i), ConversationId: fmt.Sprint("c", i%64), Text: fmt.Sprint("message ", i)}
				for {
					callCtx, done := context.WithTimeout(ctx, 5*time.Second)
					_, err := d.client().Channels.Send(callCtx, req)
					done()
					if err == nil {
						queued.Add(1)
						break
					}
					if ctx.Err() != nil {
						return
					}
					time.Sleep(20 * time.Millisecond) // palyrad is down or restarting
				}
			}
		})
	}

	// The kills are spread over the burst: one each time another share of it is queued.
	kills := make([]string, 0, pluginKills+daemonKills)
	for range pluginKills {
		kills = append(kills, "plugin")
	}
	for i := range daemonKills {
		kills = slices.Insert(kills, (i+1)*len(kills)/(daemonKills+1), "daemon")
	}
	var orphans []int
	killed := 0 // the last plugin killed, which palyrad may list for a moment still
	for k, what := range kills {
		for queued.Load() < int64((k+1)*n/(len(kills)+1)) && ctx.Err() == nil {
			time.Sleep(2 * time.Millisecond)
		}
		pid := pluginPID(ctx, d, killed)
		switch what {
		case "plugin":
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				tb.Fatalf("kill the plugin (pid %d): %v", pid, err)
			}
			killed = pid
		case "daemon":
			d.kill()
			if alive(pid, 5*time.Second) {
				orphans = append(orphans, pid)
			}
		}
	}
	senders.Wait()
	for {
		c, err := d.connector(ctx)
		if err == nil && c.GetQueued() == 0 && c.GetInFlight() == 0 {
			break
		}
		if ctx.Err() != nil {
			tb.Fatalf("the queue did not drain: %v %v", c, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	res := chaosResult{sent: n, orphans: orphans, elapsed: time.Since(began)}
	seen := map[string]int{}
	f, err := os.Open(ledger)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		seen[sc.Text()]++
	}
	for i := range n {
		switch c := seen[fmt.Sprint("echo:chaos:m-", i)]; {
		case c == 0:
			res.lost++
		case c > 1:
			res.duplicated += c - 1
		}
		if seen[fmt.Sprint("echo:chaos:m-", i)] > 0 {
			res.delivered++
		}
	}
	return res
}

// pluginPID is the running Echo plugin's pid, other than not, waiting for one to run.
func pluginPID(ctx context.Context, d *chaosDaemon, not int) int {
	for {
		c, err := d.connector(ctx)
		if pid := int(c.GetPlugin().GetPid()); err == nil && c.GetPlugin().GetState() == "running" && pid != 0 && pid != not {
			return pid
		}
		if ctx.Err() != nil {
			d.tb.Fatalf("no Echo plugin runs: %v %v", c, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// alive reports whether pid still runs after wait.
func alive(pid int, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

func (r chaosResult) check(tb testing.TB) {
	tb.Helper()
	if r.lost != 0 || r.duplicated != 0 || len(r.orphans) != 0 {
		tb.Fatalf("%d messages: %d lost, %d sent twice, plugins left running after palyrad died: %v", r.sent, r.lost, r.duplicated, r.orphans)
	}
}

// TestConnectorsKeepEveryMessageThroughKills: a burst through Echo loses and repeats
// nothing while its plugin and palyrad are killed with SIGKILL, and no plugin outlives
// its palyrad.
func TestConnectorsKeepEveryMessageThroughKills(t *testing.T) {
	chaos(t, 3000, 3, 1).check(t)
}

// BenchmarkChaos is the full run: 100,000 messages, 10 plugin kills, 2 palyrad kills.
func BenchmarkChaos(b *testing.B) {
	for range b.N {
		r := chaos(b, 100_000, 10, 2)
		r.check(b)
		b.ReportMetric(float64(r.lost), "lost")
		b.ReportMetric(float64(r.duplicated), "duplicated")
		b.ReportMetric(float64(r.sent)/r.elapsed.Seconds(), "msgs/s")
	}
}
