package main

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/supervisor/api"
	"github.com/palyra/palyra/tui/termtext"
)

// testToken is the bearer token the fake palyrad accepts.
const testToken = "s3cret-admin-token-for-tests"

// fakeAdmin is a real gRPC server on 127.0.0.1:0 that serves palyrad's admin services the
// way a test sets them up: it refuses calls without the bearer token, records every request
// and answers with the test's handlers. Methods without a handler are Unimplemented.
type fakeAdmin struct {
	addr      string
	home      string
	tokenFile string

	mu       sync.Mutex
	unary    map[string]func(proto.Message) (proto.Message, error)
	streams  map[string]func(context.Context, proto.Message, func(proto.Message) error) error
	requests map[string][]proto.Message
}

func newFakeAdmin(t *testing.T) *fakeAdmin {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAdmin{
		addr:     lis.Addr().String(),
		home:     t.TempDir(),
		unary:    map[string]func(proto.Message) (proto.Message, error){},
		streams:  map[string]func(context.Context, proto.Message, func(proto.Message) error) error{},
		requests: map[string][]proto.Message{},
	}
	f.tokenFile = writeToken(t, f.home, "admin.token", testToken)
	srv := grpc.NewServer(grpc.UnknownServiceHandler(f.serve))
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return f
}

func writeToken(t *testing.T, dir, name, token string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// on answers method with h, which receives the typed request.
func on[Req, Reply proto.Message](f *fakeAdmin, method string, h func(Req) (Reply, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unary[method] = func(m proto.Message) (proto.Message, error) { return h(m.(Req)) }
}

// reply answers method with a canned reply.
func (f *fakeAdmin) reply(method string, m proto.Message) {
	on(f, method, func(proto.Message) (proto.Message, error) { return m, nil })
}

// fail answers method with an error status.
func (f *fakeAdmin) fail(method string, code codes.Code, msg string) {
	on(f, method, func(proto.Message) (proto.Message, error) { return nil, status.Error(code, msg) })
}

// onStream serves the server-streaming method with h.
func (f *fakeAdmin) onStream(method string, h func(ctx context.Context, req proto.Message, send func(proto.Message) error) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.streams[method] = h
}

// got returns the requests method received, in order.
func (f *fakeAdmin) got(method string) []proto.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]proto.Message(nil), f.requests[method]...)
}

func (f *fakeAdmin) serve(_ any, stream grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(stream)
	md, _ := metadata.FromIncomingContext(stream.Context())
	auth := md.Get("authorization")
	if len(auth) != 1 || subtle.ConstantTimeCompare([]byte(auth[0]), []byte("Bearer "+testToken)) != 1 {
		return status.Error(codes.Unauthenticated, "unauthenticated: a valid bearer token is required")
	}
	desc, err := methodDescriptor(method)
	if err != nil {
		return status.Error(codes.Unimplemented, err.Error())
	}
	input, err := protoregistry.GlobalTypes.FindMessageByName(desc.Input().FullName())
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	req := input.New().Interface()
	if err := stream.RecvMsg(req); err != nil {
		return err
	}
	f.mu.Lock()
	f.requests[method] = append(f.requests[method], req)
	unary, streaming := f.unary[method], f.streams[method]
	f.mu.Unlock()
	if desc.IsStreamingServer() {
		if streaming == nil {
			return status.Errorf(codes.Unimplemented, "test serves no %s", method)
		}
		return streaming(stream.Context(), req, func(m proto.Message) error { return stream.SendMsg(m) })
	}
	if unary == nil {
		return status.Errorf(codes.Unimplemented, "test serves no %s", method)
	}
	reply, err := unary(req)
	if err != nil {
		return err
	}
	return stream.SendMsg(reply)
}

// methodDescriptor finds "/pkg.Service/Method" among the registered proto services.
func methodDescriptor(full string) (protoreflect.MethodDescriptor, error) {
	service, method, ok := strings.Cut(strings.TrimPrefix(full, "/"), "/")
	if !ok {
		return nil, fmt.Errorf("bad method %q", full)
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(service))
	if err != nil {
		return nil, err
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, fmt.Errorf("%s is not a service", service)
	}
	m := sd.Methods().ByName(protoreflect.Name(method))
	if m == nil {
		return nil, fmt.Errorf("no method %s", full)
	}
	return m, nil
}

// outcome is what a command run left behind.
type outcome struct {
	code           int
	stdout, stderr string
}

// run runs palyra-tui in this process against the fake, with its token.
func (f *fakeAdmin) run(t *testing.T, args ...string) outcome {
	t.Helper()
	return runCLI(t, context.Background(), nil, append([]string{"--home", f.home, "--gateway", f.addr, "--token-file", f.tokenFile}, args...)...)
}

// runCLI runs the root command as main does and reports the exit code and what it printed;
// stdout goes to out when given. The environment's token never leaks in.
func runCLI(t *testing.T, ctx context.Context, out io.Writer, args ...string) outcome {
	t.Helper()
	t.Setenv("PALYRA_TOKEN", "")
	return execCLI(ctx, out, args...)
}

// execCLI is runCLI for another goroutine, after the test has cleared PALYRA_TOKEN.
func execCLI(ctx context.Context, out io.Writer, args ...string) outcome {
	var stdout, stderr bytes.Buffer
	if out == nil {
		out = &stdout
	}
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(out)
	root.SetErr(&stderr)
	err := root.ExecuteContext(ctx)
	code := exitCodeOf(err)
	if err != nil && err.Error() != "" {
		fmt.Fprintln(&stderr, "palyra-tui:", err)
	}
	return outcome{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// exitCodeOf maps an error to an exit code exactly as run does.
func exitCodeOf(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case isUsage(err):
		return exitUsage
	default:
		return exitFailure
	}
}

// expect checks the exit code and that stderr holds every fragment.
func (o outcome) expect(t *testing.T, code int, stderrHas ...string) {
	t.Helper()
	if o.code != code {
		t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", o.code, code, o.stdout, o.stderr)
	}
	for _, s := range stderrHas {
		if !strings.Contains(o.stderr, s) {
			t.Errorf("stderr %q lacks %q", o.stderr, s)
		}
	}
}

// only returns the single request method received, failing the test otherwise.
func only[Req proto.Message](t *testing.T, f *fakeAdmin, method string) Req {
	t.Helper()
	reqs := f.got(method)
	if len(reqs) != 1 {
		t.Fatalf("%s received %d requests, want 1", method, len(reqs))
	}
	return reqs[0].(Req)
}

func checkRequest(t *testing.T, got, want proto.Message) {
	t.Helper()
	if !proto.Equal(got, want) {
		t.Errorf("request:\n got %v\nwant %v", got, want)
	}
}

// sameJSON compares printed JSON with want, ignoring layout.
func sameJSON(t *testing.T, got, want string) {
	t.Helper()
	var g, w bytes.Buffer
	if err := json.Compact(&g, []byte(got)); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, got)
	}
	if err := json.Compact(&w, []byte(want)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g.Bytes(), w.Bytes()) {
		t.Errorf("JSON:\n got %s\nwant %s", g.Bytes(), w.Bytes())
	}
}

// checkWidth fails if a line of s is wider than the narrowest supported terminal.
func checkWidth(t *testing.T, s string) {
	t.Helper()
	for line := range strings.SplitSeq(s, "\n") {
		if w := termtext.Width(line); w > narrowest {
			t.Errorf("line is %d cells wide, want at most %d: %q", w, narrowest, line)
		}
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

func TestGatewayTokenRefused(t *testing.T) {
	f := newFakeAdmin(t)
	f.reply(palyrav1.AuditService_VerifyAudit_FullMethodName, &palyrav1.VerifyAuditReply{Ok: true})
	wrong := writeToken(t, t.TempDir(), "wrong.token", "not-the-token")
	o := runCLI(t, context.Background(), nil, "--home", f.home, "--gateway", f.addr, "--token-file", wrong, "audit", "verify")
	o.expect(t, exitFailure, "token refused: unauthenticated: a valid bearer token is required", wrong, "--token-file")
	if strings.Contains(o.stderr+o.stdout, "not-the-token") {
		t.Error("the refused token was printed")
	}
}

func TestGatewayTokenFromEnv(t *testing.T) {
	f := newFakeAdmin(t)
	f.reply(palyrav1.AuditService_VerifyAudit_FullMethodName, &palyrav1.VerifyAuditReply{Ok: true, Checked: 3})
	os.Remove(f.tokenFile)
	t.Setenv("PALYRA_GATEWAY", f.addr)
	root := newRootCmd() // reads PALYRA_GATEWAY as its default
	t.Setenv("PALYRA_TOKEN", testToken)
	var out bytes.Buffer
	root.SetArgs([]string{"--home", f.home, "audit", "verify"})
	root.SetOut(&out)
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "audit journal intact: 3 entries checked\n" {
		t.Errorf("output %q", got)
	}
}

func TestGatewayNoToken(t *testing.T) {
	f := newFakeAdmin(t)
	os.Remove(f.tokenFile)
	f.run(t, "audit", "verify").expect(t, exitFailure, "no token at "+f.tokenFile)
	if n := len(f.got(palyrav1.AuditService_VerifyAudit_FullMethodName)); n != 0 {
		t.Errorf("%d calls without a token, want none", n)
	}
}

func TestGatewayPermissionDenied(t *testing.T) {
	f := newFakeAdmin(t)
	f.fail(palyrav1.NodesService_Remove_FullMethodName, codes.PermissionDenied, `token "ci" lacks the trust.operate permission`)
	f.run(t, "inventory", "remove", "d1").expect(t, exitFailure, `permission denied: token "ci" lacks the trust.operate permission`)
}

// TestGatewayServerMessageSanitized checks that a server's error text cannot drive the
// terminal: its escape sequences are gone.
func TestGatewayServerMessageSanitized(t *testing.T) {
	f := newFakeAdmin(t)
	f.fail(palyrav1.InventoryService_GetDevice_FullMethodName, codes.NotFound, "no device \x1b]0;pwned\x07evil\x1b[2J")
	o := f.run(t, "inventory", "show", "evil")
	o.expect(t, exitFailure, "no device evil")
	if strings.ContainsRune(o.stderr, 0x1b) {
		t.Errorf("stderr holds an escape: %q", o.stderr)
	}
}

func TestGatewayUnreachable(t *testing.T) {
	dead := closedAddr(t)
	home := t.TempDir()
	token := writeToken(t, home, "admin.token", testToken)

	// Named with --gateway: say where, and that it was asked for.
	o := runCLI(t, context.Background(), nil, "--home", home, "--gateway", dead, "--token-file", token, "approvals", "list")
	o.expect(t, exitFailure, "nothing answers at "+dead, "--gateway")

	// Found: no supervisor runs, so the configured admin address is tried.
	t.Setenv("PALYRA_GATEWAY", "")
	o = runCLI(t, context.Background(), nil, "--home", home, "--admin-addr", dead, "approvals", "list")
	o.expect(t, exitFailure, "palyrad is not running (nothing answers at "+dead+")", "palyra-tui services start daemon")
}

// fakeEngine is a supervisor that only reports a fixed snapshot.
type fakeEngine struct{ snap supervisor.Snapshot }

func (e fakeEngine) Snapshot() supervisor.Snapshot       { return e.snap }
func (fakeEngine) Watch() (<-chan struct{}, func())      { return make(chan struct{}), func() {} }
func (fakeEngine) Start(context.Context, string) error   { return nil }
func (fakeEngine) Stop(context.Context, string) error    { return nil }
func (fakeEngine) Restart(context.Context, string) error { return nil }

// serveSupervisor runs a real supervisor API server on home's socket, reporting snap.
func serveSupervisor(t *testing.T, home string, snap supervisor.Snapshot) {
	t.Helper()
	lis, err := api.Listen(filepath.Join(home, "supervisor.sock"))
	if err != nil {
		t.Fatal(err)
	}
	srv := api.NewServer(api.Config{Engine: fakeEngine{snap: snap}})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
}

// TestGatewayFromSupervisor checks that without --gateway the commands reach the daemon at
// the admin address the supervisor reports, whatever --admin-addr says.
func TestGatewayFromSupervisor(t *testing.T) {
	f := newFakeAdmin(t)
	f.reply(palyrav1.AuditService_VerifyAudit_FullMethodName, &palyrav1.VerifyAuditReply{Ok: true, Checked: 7})
	serveSupervisor(t, f.home, supervisor.Snapshot{Services: []supervisor.ServiceStatus{
		{Name: "browserd", State: supervisor.StateRunning, Addrs: map[string]string{"grpc": closedAddr(t)}},
		{Name: "daemon", State: supervisor.StateRunning, Addrs: map[string]string{"admin": f.addr, "node": closedAddr(t)}},
	}})
	t.Setenv("PALYRA_GATEWAY", "")
	o := runCLI(t, context.Background(), nil, "--home", f.home, "--admin-addr", closedAddr(t), "audit", "verify")
	o.expect(t, exitOK)
	if o.stdout != "audit journal intact: 7 entries checked\n" {
		t.Errorf("output %q", o.stdout)
	}
}

// TestGatewayDaemonStopped checks the hint when the supervisor runs but its daemon does not
// and the configured address picks a free port, so there is nowhere to try.
func TestGatewayDaemonStopped(t *testing.T) {
	home := t.TempDir()
	writeToken(t, home, "admin.token", testToken)
	serveSupervisor(t, home, supervisor.Snapshot{Services: []supervisor.ServiceStatus{
		{Name: "daemon", State: supervisor.StateFatal, Addrs: map[string]string{}},
	}})
	t.Setenv("PALYRA_GATEWAY", "")
	o := runCLI(t, context.Background(), nil, "--home", home, "--admin-addr", "127.0.0.1:0", "approvals", "list")
	o.expect(t, exitFailure, "palyrad is not running: start it with `palyra-tui services start daemon`")
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	writeTable(&b, 40, []column{{header: "ID"}, {header: "NAME", min: 6}, {header: "STATE"}, {header: "NOTE", min: 6}}, [][]string{
		{"d1", "a very long device name indeed", "online", "short"},
		{"d2", "名前がとても長いデバイスです", "offline", "a note much longer than anything"},
	})
	want := "" +
		"ID  NAME           STATE    NOTE\n" +
		"d1  a very long …  online   short\n" +
		"d2  名前がとても…  offline  a note much…\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}

	// An ID is cut only when nothing else can give way.
	b.Reset()
	writeTable(&b, 30, []column{{header: "ID", min: 4, last: true}, {header: "NAME", min: 4}}, [][]string{
		{"01JD4W6ZB3K9V8X2", "kitchen-pi-in-the-house"},
		{"01JD4W6ZB3K9V8X3", "garage"},
	})
	want = "" +
		"ID                NAME\n" +
		"01JD4W6ZB3K9V8X2  kitchen-pi-…\n" +
		"01JD4W6ZB3K9V8X3  garage\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}
