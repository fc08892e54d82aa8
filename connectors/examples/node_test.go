// Package examples_test runs the example connector plugins written in other languages through
// the same host palyrad uses, against the same conformance suite as the Go providers.
package examples_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/palyra/palyra/connectors"
	"github.com/palyra/palyra/connectors/conformance"
	"github.com/palyra/palyra/connectors/host"
	"github.com/palyra/palyra/connectors/plugin"
	"github.com/palyra/palyra/connectors/providers/echo"
	"github.com/palyra/palyra/connectors/providers/echo/echotest"
)

const nodeKind = "node-echo"

// nodeEcho returns the path of the Node Echo plugin, or skips the test when Node or the
// plugin's npm packages are missing; under CI=1 it fails instead.
func nodeEcho(tb testing.TB) string {
	tb.Helper()
	dir, err := filepath.Abs("node-echo")
	if err != nil {
		tb.Fatal(err)
	}
	missing := ""
	if _, err := exec.LookPath("node"); err != nil {
		missing = "node is not on PATH"
	} else if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		missing = "its npm packages are not installed (scripts/install-tools.sh, or npm ci --prefix connectors/examples/node-echo)"
	}
	if missing != "" {
		if os.Getenv("CI") == "1" {
			tb.Fatalf("the Node example plugin cannot run: %s", missing)
		}
		tb.Skipf("skipping the Node example plugin: %s", missing)
	}
	return filepath.Join(dir, "palyra-connector-node-echo")
}

// runHost runs a plugin executable under palyrad's host until the test ends.
func runHost(tb testing.TB, kind, path string, opts host.Options) *host.Plugin {
	tb.Helper()
	p := host.New(host.Spec{Kind: kind, Path: path}, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done })
	return p
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// The conformance suite against the Node plugin, every call crossing go-plugin into Node. It
// takes Echo's markers, so Echo's harness serves it under its own kind.
func TestNodeEchoConformance(t *testing.T) {
	p := runHost(t, nodeKind, nodeEcho(t), host.Options{})
	h := echotest.Harness(p)
	h.Kind = nodeKind
	conformance.Run(t, h)
}

// The same calls to the Go Echo provider (in process) and to the Node plugin (through the
// host) give the same answers, the kind and the clock aside.
func TestNodeEchoAnswersLikeGoEcho(t *testing.T) {
	node := runHost(t, nodeKind, nodeEcho(t), host.Options{})
	goEcho := echo.New("test")
	want, got := transcript(t, goEcho), transcript(t, node)
	for i := range max(len(want), len(got)) {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			t.Errorf("step %d:\n  go echo:   %s\n  node echo: %s", i, w, g)
		}
	}
}

// transcript makes the same calls to p and writes down its answers.
func transcript(t *testing.T, p connectors.Provider) []string {
	ctx := ctxFor(t)
	var out []string
	note := func(what string, v any, err error) {
		switch {
		case errors.Is(err, connectors.ErrUnknownInstance):
			out = append(out, what+": error: unknown instance")
		case errors.Is(err, connectors.ErrUnsupported):
			out = append(out, what+": error: unsupported")
		case errors.Is(err, context.DeadlineExceeded):
			out = append(out, what+": error: deadline exceeded")
		case err != nil:
			out = append(out, what+": error: "+err.Error())
		default:
			out = append(out, fmt.Sprintf("%s: %+v", what, v))
		}
	}
	d, err := p.Describe(ctx)
	d.Kind, d.Version = "", ""
	note("describe", d, err)

	many := map[string]string{}
	for i := range connectors.MaxConfigFields + 1 {
		many[fmt.Sprint("f", i)] = "x"
	}
	for _, config := range []map[string]string{
		nil, {"reflect": "true"}, {"nonsense": "x"}, {"reflect": "maybe", "ledger": "relative"},
		{"ledger": "relative"}, {"ledger": strings.Repeat("/x", 600)}, many,
	} {
		note(fmt.Sprintf("validate %.60v", config), nil, p.Validate(ctx, config))
	}

	const id = "x:a"
	st, err := p.Start(ctx, connectors.Instance{ID: id, Config: map[string]string{"ledger": "relative"}})
	note("start misconfigured", st, err)
	st, err = p.Start(ctx, connectors.Instance{ID: id})
	note("start", st, err)

	send := func(key, text string) {
		o, err := p.Send(ctx, connectors.Outgoing{InstanceID: id, IdempotencyKey: key, ConversationID: "c", Text: text, Attempt: 1})
		note("send "+key, o, err)
	}
	for i, text := range []string{"one", "two [rate-limit-once]", "three [restart-once]", "four [nack]", "five [rate-limit-always]", "six", "seven", "eight"} {
		key := fmt.Sprint(id, ":", i)
		send(key, text)
		send(key, text) // a second try
	}
	_, err = p.Send(ctx, connectors.Outgoing{InstanceID: "x:nobody", IdempotencyKey: "k", Text: "x"})
	note("send to nobody", nil, err)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = p.Send(short, connectors.Outgoing{InstanceID: id, IdempotencyKey: "hang", Text: "wait [hang]"})
	cancel()
	note("send [hang]", nil, err)

	read := func(what string, r connectors.ReadRequest) []connectors.Message {
		r.InstanceID, r.ConversationID = id, "c"
		msgs, err := p.Read(ctx, r)
		note("read "+what, texts(msgs), err)
		return msgs
	}
	all := read("all", connectors.ReadRequest{Limit: 100})
	read("two", connectors.ReadRequest{Limit: 2})
	read("no limit", connectors.ReadRequest{})
	read("before the newest", connectors.ReadRequest{Before: all[0].ID, Limit: 3})
	read("before the oldest", connectors.ReadRequest{Before: all[len(all)-1].ID, Limit: 3})
	read("before a stranger", connectors.ReadRequest{Before: "nobody", Limit: 3})
	read("one", connectors.ReadRequest{MessageID: all[2].ID, Limit: 1})
	read("a stranger", connectors.ReadRequest{MessageID: "nobody"})
	_, err = p.Read(ctx, connectors.ReadRequest{InstanceID: "x:nobody", ConversationID: "c"})
	note("read nobody", nil, err)

	mutate := func(what string, m connectors.Mutation) {
		m.InstanceID, m.ConversationID = id, "c"
		r, err := p.Mutate(ctx, m)
		if r.Message != nil {
			if r.Message.CreatedAt.IsZero() || (m.Kind == connectors.Edit) == r.Message.EditedAt.IsZero() {
				t.Errorf("%s: times %v %v", what, r.Message.CreatedAt, r.Message.EditedAt)
			}
			r.Message.CreatedAt, r.Message.EditedAt = time.Time{}, time.Time{}
		}
		note("mutate "+what, fmt.Sprintf("done=%v reason=%q message=%+v", r.Done, r.Reason, r.Message), err)
	}
	mutate("edit", connectors.Mutation{Kind: connectors.Edit, MessageID: all[0].ID, Text: "eight, edited"})
	mutate("react", connectors.Mutation{Kind: connectors.React, MessageID: all[1].ID, Emoji: "👍"})
	mutate("delete", connectors.Mutation{Kind: connectors.Delete, MessageID: all[2].ID})
	mutate("delete again", connectors.Mutation{Kind: connectors.Delete, MessageID: all[2].ID})
	mutate("of no kind", connectors.Mutation{MessageID: all[3].ID})
	read("after the mutations", connectors.ReadRequest{Limit: 100})
	_, err = p.Mutate(ctx, connectors.Mutation{InstanceID: "x:nobody", Kind: connectors.Delete})
	note("mutate nobody", nil, err)

	st, err = p.Start(ctx, connectors.Instance{ID: id, Config: map[string]string{"reflect": "true"}})
	note("start again", st, err)
	send(id+":0", "one, again")
	st, err = p.Status(ctx, id)
	note("status", st, err)
	note("stop", nil, p.Stop(ctx, id))
	note("stop again", nil, p.Stop(ctx, id))
	_, err = p.Status(ctx, id)
	note("status after stop", nil, err)
	return out
}

func texts(msgs []connectors.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, fmt.Sprintf("%s %s by=%s connector=%v", m.ID, m.Text, m.SenderID, m.ByConnector))
	}
	return out
}

// With reflect on, every message sent comes back as an inbound event on the plugin's one
// event stream, with an envelope id that is the same for the same message.
func TestNodeEchoReflectsInbound(t *testing.T) {
	p := runHost(t, nodeKind, nodeEcho(t), host.Options{})
	ctx := ctxFor(t)
	events, err := p.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Start(ctx, connectors.Instance{ID: "node-echo:r", Config: map[string]string{"reflect": "true"}}); err != nil {
		t.Fatal(err)
	}
	text := "hello \x1b[31mred\x1b[0m\x07 world\nsecond line"
	out, err := p.Send(ctx, connectors.Outgoing{InstanceID: "node-echo:r", IdempotencyKey: "node-echo:r:1", ConversationID: "c", Text: text, Attempt: 1})
	if err != nil || out.Kind != connectors.Delivered {
		t.Fatalf("Send = %+v, %v", out, err)
	}
	for {
		select {
		case e := <-events:
			if e.Kind != connectors.EventInbound {
				continue
			}
			in := e.Inbound
			if e.InstanceID != "node-echo:r" || in.EnvelopeID != "reflect-"+out.NativeID || in.ConversationID != "c" ||
				in.SenderID != "echo" || in.Text != "hello red world\nsecond line" || in.ReceivedAt.IsZero() {
				t.Fatalf("inbound event = %+v", e)
			}
			return
		case <-ctx.Done():
			t.Fatal("no inbound event")
		}
	}
}

// With a ledger, a message delivered before the plugin was SIGKILLed is not delivered again
// by the next process: the host starts the instance again and the ledger is read back.
func TestNodeEchoLedgerOutlivesTheProcess(t *testing.T) {
	p := runHost(t, nodeKind, nodeEcho(t), host.Options{BackoffInitial: 10 * time.Millisecond})
	ctx := ctxFor(t)
	ledger := filepath.Join(t.TempDir(), "ledger")
	inst := connectors.Instance{ID: "node-echo:l", Config: map[string]string{"ledger": ledger}}
	if st, err := p.Start(ctx, inst); err != nil || st.Readiness != connectors.Ready {
		t.Fatalf("Start = %+v, %v", st, err)
	}
	msg := connectors.Outgoing{InstanceID: inst.ID, IdempotencyKey: "node-echo:l:1", ConversationID: "c", Text: "once [rate-limit-once]", Attempt: 1}
	first, err := p.Send(ctx, msg)
	if err != nil || first.Kind != connectors.Retry || first.RetryAfter != 10*time.Millisecond {
		t.Fatalf("first try = %+v, %v; want a rate limit", first, err)
	}
	msg.Attempt = 2
	delivered, err := p.Send(ctx, msg)
	if err != nil || delivered.Kind != connectors.Delivered {
		t.Fatalf("second try = %+v, %v", delivered, err)
	}
	pid := p.Facts().PID
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for p.Facts().PID == pid || p.Facts().PID == 0 {
		if ctx.Err() != nil {
			t.Fatalf("no new process: %+v", p.Facts())
		}
		time.Sleep(10 * time.Millisecond)
	}
	st, err := p.Status(ctx, inst.ID)
	if err != nil || st.Facts["delivered"] != "1" {
		t.Fatalf("Status after the restart = %+v, %v; want 1 delivered", st, err)
	}
	msg.Attempt = 3
	again, err := p.Send(ctx, msg)
	if err != nil || again.Kind != connectors.Delivered || again.NativeID != delivered.NativeID {
		t.Fatalf("after the restart = %+v, %v; want the first delivery %s", again, err, delivered.NativeID)
	}
	if data, err := os.ReadFile(ledger); err != nil || string(data) != msg.IdempotencyKey+"\n" {
		t.Fatalf("ledger = %q, %v", data, err)
	}
}

// Through go-plugin's own client: the health check go-plugin pings answers, and the
// controller's Shutdown ends the process cleanly, before go-plugin would kill it.
func TestNodeEchoHealthAndShutdown(t *testing.T) {
	cmd := exec.Command(nodeEcho(t))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig: plugin.Handshake, Plugins: plugin.Plugins(), Cmd: cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC}, AutoMTLS: true, SkipHostEnv: true,
		Logger: hclog.NewNullLogger(),
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		t.Fatal(err)
	}
	if err := rpc.Ping(); err != nil {
		t.Fatalf("health check: %v", err)
	}
	start := time.Now()
	client.Kill()
	if took := time.Since(start); cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 0 || took > time.Second {
		t.Fatalf("after Shutdown (%v): %v, want a clean exit", took, cmd.ProcessState)
	}
}

// Run by hand, without go-plugin's cookie, the plugin says what it is and exits; stdout, which
// is go-plugin's, stays empty.
func TestNodeEchoRunByHand(t *testing.T) {
	cmd := exec.Command(nodeEcho(t))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("run by hand: %v, want exit status 1", err)
	}
	if stdout.Len() != 0 || !strings.Contains(stderr.String(), "not meant to be run by hand") {
		t.Fatalf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
}

// A Node plugin that gets the handshake wrong is explained to the operator, not just refused.
func TestBrokenNodeHandshakeIsExplained(t *testing.T) {
	nodeEcho(t)
	for _, c := range []struct{ name, script, want string }{
		{"logs to stdout", `console.log("listening on 8080"); setTimeout(() => {}, 60000);`,
			"is not a Palyra connector plugin (it printed something other than the go-plugin handshake on stdout)"},
		{"another protocol version", `console.log("1|2|tcp|127.0.0.1:1|grpc"); setTimeout(() => {}, 60000);`,
			"speaks another version of the connector protocol"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "palyra-connector-broken")
			if err := os.WriteFile(path, []byte("#!/usr/bin/env node\n"+c.script+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			p := runHost(t, "broken", path, host.Options{BackoffInitial: time.Hour})
			_, err := p.Describe(ctxFor(t))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Describe = %v, want an error saying %q", err, c.want)
			}
		})
	}
}

// The plugin copied without its npm packages says so: the crash is the plugin's last error.
func TestNodeEchoWithoutItsPackagesIsExplained(t *testing.T) {
	script, err := os.ReadFile(nodeEcho(t))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "palyra-connector-node-echo")
	if err := os.WriteFile(path, script, 0o755); err != nil {
		t.Fatal(err)
	}
	p := runHost(t, nodeKind, path, host.Options{BackoffInitial: time.Hour})
	_, err = p.Describe(ctxFor(t))
	const want = "panic: Error: Cannot find module '@grpc/grpc-js'"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Describe = %v (crash %q), want it to say %q", err, p.Facts().Crash, want)
	}
}

// BenchmarkNodePluginLaunch is the Node plugin from exec to its first answered call (compare
// connectors/platform's BenchmarkPluginLaunch, a Go plugin).
func BenchmarkNodePluginLaunch(b *testing.B) {
	path := nodeEcho(b)
	for range b.N {
		plug := host.New(host.Spec{Kind: nodeKind, Path: path}, host.Options{})
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
