package host

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/palyra/palyra/connectors"
	"github.com/palyra/palyra/connectors/plugin"
	"github.com/palyra/palyra/connectors/providers/echo"
)

// The test binary doubles as the plugin: run with these arguments it serves a provider
// instead of running tests.
const pluginArg = "serve-test-connector"

func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == pluginArg {
		servePluginMode(os.Args[2])
		return
	}
	os.Exit(m.Run())
}

func servePluginMode(mode string) {
	switch mode {
	case "echo":
		plugin.Serve(echo.New("test"))
	case "garbage":
		fmt.Println("hello, I am not a plugin")
		time.Sleep(time.Minute)
	case "panic":
		panic("connector exploded at start")
	case "wrong-version":
		goplugin.Serve(&goplugin.ServeConfig{
			HandshakeConfig: goplugin.HandshakeConfig{ProtocolVersion: 9, MagicCookieKey: plugin.Handshake.MagicCookieKey, MagicCookieValue: plugin.Handshake.MagicCookieValue},
			Plugins:         plugin.Plugins(),
			GRPCServer:      goplugin.DefaultGRPCServer,
		})
	case "other-kind":
		plugin.Serve(renamed{echo.New("test")})
	case "unbatched":
		plugin.Serve(unbatched{echo.New("test")})
	}
}

// unbatched is Echo without SendBatch, as a plugin that implements only Send is.
type unbatched struct{ connectors.Provider }

type renamed struct{ *echo.Provider }

func (r renamed) Describe(ctx context.Context) (connectors.Description, error) {
	d, err := r.Provider.Describe(ctx)
	d.Kind = "notecho"
	return d, err
}

func testSpec(t *testing.T, mode string) Spec {
	t.Helper()
	return Spec{Kind: echo.Kind, Path: os.Args[0], Args: []string{pluginArg, mode}}
}

func runPlugin(t *testing.T, spec Spec, opts Options) *Plugin {
	t.Helper()
	if opts.BackoffInitial == 0 {
		opts.BackoffInitial = 10 * time.Millisecond
	}
	p := New(spec, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return p
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSendThroughAPluginProcess(t *testing.T) {
	p := runPlugin(t, testSpec(t, "echo"), Options{})
	ctx := ctxFor(t)
	d, err := p.Describe(ctx)
	if err != nil || d.Kind != echo.Kind || !d.Can(connectors.CapRead) {
		t.Fatalf("Describe = %+v, %v", d, err)
	}
	if err := p.Validate(ctx, map[string]string{"nonsense": "x"}); err == nil || !strings.Contains(err.Error(), "nonsense: unknown field") {
		t.Fatalf("Validate(bad) = %v, want a field error", err)
	}
	st, err := p.Start(ctx, connectors.Instance{ID: "echo:a"})
	if err != nil || st.Readiness != connectors.Ready {
		t.Fatalf("Start = %+v, %v", st, err)
	}
	out, err := p.Send(ctx, connectors.Outgoing{InstanceID: "echo:a", IdempotencyKey: "echo:a:1", ConversationID: "c", Text: "hi", Attempt: 1})
	if err != nil || out.Kind != connectors.Delivered || out.NativeID == "" {
		t.Fatalf("Send = %+v, %v", out, err)
	}
	again, err := p.Send(ctx, connectors.Outgoing{InstanceID: "echo:a", IdempotencyKey: "echo:a:1", ConversationID: "c", Text: "hi", Attempt: 2})
	if err != nil || again.NativeID != out.NativeID {
		t.Fatalf("resend = %+v, %v; want the first delivery's id %s", again, err, out.NativeID)
	}
	msgs, err := p.Read(ctx, connectors.ReadRequest{InstanceID: "echo:a", ConversationID: "c", Limit: 10})
	if err != nil || len(msgs) != 1 || msgs[0].Text != "hi" {
		t.Fatalf("Read = %+v, %v; want the one message", msgs, err)
	}
	if _, err := p.Send(ctx, connectors.Outgoing{InstanceID: "echo:nobody", IdempotencyKey: "k", Text: "x"}); !errors.Is(err, connectors.ErrUnknownInstance) {
		t.Fatalf("Send to an unknown instance = %v, want ErrUnknownInstance", err)
	}
	if f := p.Facts(); f.PID == 0 || f.Restarts != 0 {
		t.Fatalf("Facts = %+v", f)
	}
}

// SendBatch crosses the process in one call and answers each message as Send would.
func TestSendBatchThroughAPluginProcess(t *testing.T) {
	p := runPlugin(t, testSpec(t, "echo"), Options{})
	ctx := ctxFor(t)
	if _, err := p.Start(ctx, connectors.Instance{ID: "echo:a"}); err != nil {
		t.Fatal(err)
	}
	msgs := []connectors.Outgoing{
		{InstanceID: "echo:a", IdempotencyKey: "echo:a:1", ConversationID: "c1", Text: "one", Attempt: 1},
		{InstanceID: "echo:a", IdempotencyKey: "echo:a:2", ConversationID: "c2", Text: "two [nack]", Attempt: 1},
		{InstanceID: "echo:a", IdempotencyKey: "echo:a:3", ConversationID: "c3", Text: "three [rate-limit-once]", Attempt: 1},
		{InstanceID: "echo:nobody", IdempotencyKey: "echo:nobody:1", ConversationID: "c4", Text: "four", Attempt: 1},
	}
	outs, err := p.SendBatch(ctx, msgs)
	if err != nil || len(outs) != 4 {
		t.Fatalf("SendBatch = %+v, %v", outs, err)
	}
	if outs[0].Kind != connectors.Delivered || outs[0].NativeID == "" || outs[1].Kind != connectors.Permanent ||
		outs[2].Kind != connectors.Retry || outs[2].Class != connectors.RateLimited || outs[2].RetryAfter != 10*time.Millisecond ||
		outs[3].Kind != connectors.Retry || outs[3].Class != connectors.Transient {
		t.Fatalf("SendBatch outcomes = %+v", outs)
	}
	again, err := p.SendBatch(ctx, msgs[:1])
	if err != nil || again[0].NativeID != outs[0].NativeID {
		t.Fatalf("resend = %+v, %v; want the first delivery's id %s", again, err, outs[0].NativeID)
	}
	if got, err := p.Read(ctx, connectors.ReadRequest{InstanceID: "echo:a", ConversationID: "c1", Limit: 10}); err != nil || len(got) != 1 {
		t.Fatalf("Read = %+v, %v; want the one message", got, err)
	}
}

// A plugin without SendBatch answers Unimplemented: the host says ErrUnsupported, asks
// once, and Send goes on working.
func TestPluginWithoutSendBatch(t *testing.T) {
	p := runPlugin(t, testSpec(t, "unbatched"), Options{})
	ctx := ctxFor(t)
	if _, err := p.Start(ctx, connectors.Instance{ID: "echo:a"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := p.SendBatch(ctx, []connectors.Outgoing{{InstanceID: "echo:a", IdempotencyKey: "k", Text: "x"}}); !errors.Is(err, connectors.ErrUnsupported) {
			t.Fatalf("SendBatch = %v, want ErrUnsupported", err)
		}
	}
	if out, err := p.Send(ctx, connectors.Outgoing{InstanceID: "echo:a", IdempotencyKey: "k", Text: "x"}); err != nil || out.Kind != connectors.Delivered {
		t.Fatalf("Send = %+v, %v", out, err)
	}
}

// A plugin killed with SIGKILL in the middle of a burst of batches comes back and every
// batch ends delivered: those cut off go to the new process, with their keys.
func TestKilledPluginFailsOverMidBatches(t *testing.T) {
	p := runPlugin(t, testSpec(t, "echo"), Options{})
	ctx := ctxFor(t)
	if _, err := p.Start(ctx, connectors.Instance{ID: "echo:a"}); err != nil {
		t.Fatal(err)
	}
	pid := p.Facts().PID
	const batches, each = 40, 16
	var wg sync.WaitGroup
	errs := make(chan error, batches*each)
	for b := range batches {
		if b == batches/2 {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
		wg.Go(func() {
			msgs := make([]connectors.Outgoing, each)
			for i := range msgs {
				msgs[i] = connectors.Outgoing{InstanceID: "echo:a", IdempotencyKey: fmt.Sprintf("echo:a:%d.%d", b, i), ConversationID: fmt.Sprint("c", i), Text: "x", Attempt: 1}
			}
			outs, err := p.SendBatch(ctx, msgs)
			if err != nil {
				errs <- err
				return
			}
			for _, o := range outs {
				if o.Kind != connectors.Delivered {
					errs <- fmt.Errorf("outcome %+v", o)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("batch: %v", err)
	}
	if f := p.Facts(); f.Restarts != 1 || f.PID == pid {
		t.Fatalf("Facts after the kill = %+v, want one restart (old pid %d)", f, pid)
	}
}

// A plugin killed with SIGKILL in the middle of a burst comes back, runs its instances
// again, and every call of the burst ends delivered: the ones cut off go to the new process.
func TestKilledPluginFailsOverMidBurst(t *testing.T) {
	p := runPlugin(t, testSpec(t, "echo"), Options{})
	ctx := ctxFor(t)
	if _, err := p.Start(ctx, connectors.Instance{ID: "echo:a"}); err != nil {
		t.Fatal(err)
	}
	pid := p.Facts().PID
	const n = 400
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		if i == n/2 {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
		wg.Go(func() {
			out, err := p.Send(ctx, connectors.Outgoing{InstanceID: "echo:a", IdempotencyKey: fmt.Sprintf("echo:a:%d", i), Text: "x", Attempt: 1})
			if err == nil && out.Kind != connectors.Delivered {
				err = fmt.Errorf("outcome %+v", out)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("send: %v", err)
	}
	f := p.Facts()
	if f.Restarts != 1 || f.PID == 0 || f.PID == pid {
		t.Fatalf("Facts after the kill = %+v, want one restart and a new pid (old %d)", f, pid)
	}
	if st, err := p.Status(ctx, "echo:a"); err != nil || st.Readiness != connectors.Ready {
		t.Fatalf("the instance was not started again in the new process: %+v, %v", st, err)
	}
}

func TestLaunchFailuresAreExplained(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "palyra-connector-echo")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho hello\nsleep 60\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(self)
	wrong := sha256.Sum256([]byte("another build"))

	for _, tc := range []struct {
		name string
		spec Spec
		want string
	}{
		{"missing", Spec{Kind: echo.Kind, Path: filepath.Join(dir, "nothing-here")}, "no such file"},
		{"not a plugin", Spec{Kind: echo.Kind, Path: script}, "not a Palyra connector plugin"},
		{"prints garbage", testSpec(t, "garbage"), "not a Palyra connector plugin"},
		{"wrong protocol version", testSpec(t, "wrong-version"), "another version of the connector protocol"},
		{"checksum changed", Spec{Kind: echo.Kind, Path: os.Args[0], Args: []string{pluginArg, "echo"}, Checksum: wrong[:]}, "SHA-256 no longer matches"},
		{"another kind", testSpec(t, "other-kind"), `says it is "notecho"`},
		{"panics at start", testSpec(t, "panic"), "panic: connector exploded at start"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := runPlugin(t, tc.spec, Options{StartTimeout: 5 * time.Second, FailoverWait: 20 * time.Second, BackoffInitial: time.Second})
			ctx := ctxFor(t)
			_, err := p.Describe(ctx)
			if err == nil || !errors.Is(err, plugin.ErrPluginGone) {
				t.Fatalf("Describe = %v, want ErrPluginGone", err)
			}
			if f := p.Facts(); !strings.Contains(f.LastError, tc.want) {
				t.Fatalf("last error %q (crash %q), want it to say %q", f.LastError, f.Crash, tc.want)
			}
		})
	}

	t.Run("checksum matches", func(t *testing.T) {
		p := runPlugin(t, Spec{Kind: echo.Kind, Path: os.Args[0], Args: []string{pluginArg, "echo"}, Checksum: sum[:]}, Options{})
		if _, err := p.Describe(ctxFor(t)); err != nil {
			t.Fatal(err)
		}
	})
}

// A plugin that hangs in a call holds only that call, up to its context.
func TestHangingCallEndsWithItsContext(t *testing.T) {
	p := runPlugin(t, testSpec(t, "echo"), Options{})
	ctx := ctxFor(t)
	if _, err := p.Start(ctx, connectors.Instance{ID: "echo:a"}); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, err := p.Send(short, connectors.Outgoing{InstanceID: "echo:a", IdempotencyKey: "k", Text: "[hang]"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send([hang]) = %v, want DeadlineExceeded", err)
	}
	if _, err := p.Send(ctx, connectors.Outgoing{InstanceID: "echo:a", IdempotencyKey: "k2", Text: "fine"}); err != nil {
		t.Fatalf("the next call: %v", err)
	}
}

var _ = io.Discard
