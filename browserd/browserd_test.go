package browserd_test

import (
	"bytes"
	"context"
	"image/png"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/browserd"
	"github.com/palyra/palyra/browserd/engine"
	"github.com/palyra/palyra/browserd/netguard"
	"github.com/palyra/palyra/internal/grpcserve"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

const chromium = "/usr/bin/chromium"

func needChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") == "1" {
			t.Fatalf("no Chromium at %s under CI", chromium)
		}
		t.Skipf("no Chromium at %s", chromium)
	}
}

type served struct {
	conn  *grpc.ClientConn
	token string
	home  string
}

// serve runs a Browserd on 127.0.0.1:0 until the test ends.
func serve(t *testing.T, chromiumPath string, allowPrivate bool) *served {
	t.Helper()
	return serveWith(t, chromiumPath, allowPrivate, nil)
}

// serveWith is serve with the sessions' names resolved by resolver.
func serveWith(t *testing.T, chromiumPath string, allowPrivate bool, resolver netguard.Resolver) *served {
	t.Helper()
	home := t.TempDir()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b, err := browserd.New(browserd.Config{
		Listener:     lis,
		Home:         home,
		Logger:       slog.New(slog.DiscardHandler),
		Engine:       engine.Config{ChromiumPath: chromiumPath, MaxSessions: 4},
		AllowPrivate: allowPrivate,
		Resolver:     resolver,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	token, err := os.ReadFile(filepath.Join(home, browserd.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	return &served{conn: conn, token: strings.TrimSpace(string(token)), home: home}
}

func (s *served) client() palyrav1.BrowserServiceClient {
	return palyrav1.NewBrowserServiceClient(s.conn)
}

func (s *served) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+s.token)
}

func (s *served) health(t *testing.T) (healthpb.HealthCheckResponse_ServingStatus, string) {
	t.Helper()
	var md metadata.MD
	resp, err := healthpb.NewHealthClient(s.conn).Check(s.ctx(t), &healthpb.HealthCheckRequest{Service: browserd.HealthService}, grpc.Header(&md))
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetStatus(), strings.Join(md.Get(grpcserve.HealthDetailKey), "")
}

func (s *served) waitServing(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, detail := s.health(t)
		if st == healthpb.HealthCheckResponse_SERVING {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health still %v (%s)", st, detail)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func wantCode(t *testing.T, what string, err error, codes ...codes.Code) {
	t.Helper()
	for _, c := range codes {
		if status.Code(err) == c {
			return
		}
	}
	t.Errorf("%s: %v; want %v", what, err, codes)
}

func TestHealthWithoutChromium(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-chromium")
	s := serve(t, missing, false)
	// The first attempt fails at once; give the watcher a tick to copy it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, detail := s.health(t)
		if st == healthpb.HealthCheckResponse_NOT_SERVING && strings.Contains(detail, "chromium not found at "+missing) &&
			strings.Contains(detail, "apt-get install chromium") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("health %v %q; want NOT_SERVING saying chromium is not found", st, detail)
		}
		time.Sleep(20 * time.Millisecond)
	}
	h, err := s.client().Health(context.Background(), &palyrav1.BrowserHealthRequest{}) // no token needed
	if err != nil {
		t.Fatal(err)
	}
	if h.GetStatus() != "degraded" || !strings.Contains(h.GetReason(), missing) {
		t.Errorf("Health = %v; want degraded with the reason", h)
	}
	_, err = s.client().CreateSession(s.ctx(t), &palyrav1.CreateSessionRequest{})
	wantCode(t, "CreateSession without a browser", err, codes.Unavailable)
}

func TestHealthWithChromium(t *testing.T) {
	needChromium(t)
	s := serve(t, chromium, false)
	s.waitServing(t)
	h, err := s.client().Health(context.Background(), &palyrav1.BrowserHealthRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if h.GetStatus() != "ok" || h.GetBrowserPid() == 0 || h.GetBrowserVersion() == "" {
		t.Errorf("Health = %v; want ok with the browser's pid and version", h)
	}
}

const formPage = `<!doctype html><title>Form</title>
<form onsubmit="event.preventDefault(); document.getElementById('out').textContent = 'Hello, ' + document.getElementById('name').value + '!'">
<label for="name">Name</label> <input id="name">
<button id="go" type="submit">Greet</button>
</form><p id="out"></p>`

func TestBrowserServiceOverGRPC(t *testing.T) {
	needChromium(t)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(formPage))
	}))
	defer page.Close()
	s := serve(t, chromium, true)
	s.waitServing(t)
	c := s.client()

	// No token, a wrong one.
	_, err := c.ListSessions(context.Background(), &palyrav1.ListSessionsRequest{})
	wantCode(t, "no token", err, codes.Unauthenticated)
	bad := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+strings.Repeat("0", len(s.token)))
	_, err = c.CreateSession(bad, &palyrav1.CreateSessionRequest{})
	wantCode(t, "wrong token", err, codes.Unauthenticated)

	ctx := s.ctx(t)
	sess, err := c.CreateSession(ctx, &palyrav1.CreateSessionRequest{AllowPrivateTargets: true})
	if err != nil {
		t.Fatal(err)
	}
	id := sess.GetSessionId()
	if !sess.GetAllowPrivateTargets() {
		t.Errorf("session %v does not allow private targets", sess)
	}
	nav, err := c.Navigate(ctx, &palyrav1.NavigateRequest{SessionId: id, Url: page.URL})
	if err != nil {
		t.Fatal(err)
	}
	if nav.GetStatus() != 200 || nav.GetTitle() != "Form" {
		t.Errorf("Navigate = %v", nav)
	}
	if title, err := c.Title(ctx, &palyrav1.SessionRequest{SessionId: id}); err != nil || title.GetTitle() != "Form" {
		t.Errorf("Title = %v, %v", title, err)
	}
	if _, err := c.Type(ctx, &palyrav1.TypeRequest{SessionId: id, Selector: "#name", Text: "Ada", Clear: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Click(ctx, &palyrav1.ClickRequest{SessionId: id, Selector: "#go"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitFor(ctx, &palyrav1.WaitForRequest{SessionId: id, Text: "Hello, Ada!", TimeoutMs: 5000}); err != nil {
		t.Fatal(err)
	}
	if text, err := c.Text(ctx, &palyrav1.SessionRequest{SessionId: id}); err != nil || !strings.Contains(text.GetText(), "Hello, Ada!") {
		t.Errorf("Text = %v, %v; want the greeting", text, err)
	}
	snap, err := c.Snapshot(ctx, &palyrav1.SessionRequest{SessionId: id})
	if err != nil {
		t.Fatal(err)
	}
	button := false
	for _, n := range snap.GetNodes() {
		button = button || (n.GetRole() == "button" && n.GetName() == "Greet" && n.GetRef() != "")
	}
	if !button {
		t.Errorf("snapshot has no Greet button:\n%s", snap.GetText())
	}
	shot, err := c.Screenshot(ctx, &palyrav1.SessionRequest{SessionId: id})
	if err != nil {
		t.Fatal(err)
	}
	if img, err := png.Decode(bytes.NewReader(shot.GetPng())); err != nil || img.Bounds().Dx() == 0 {
		t.Errorf("screenshot does not decode as a PNG: %v", err)
	}
	if tabs, err := c.Tabs(ctx, &palyrav1.SessionRequest{SessionId: id}); err != nil || len(tabs.GetTabs()) != 1 || !tabs.GetTabs()[0].GetActive() {
		t.Errorf("Tabs = %v, %v", tabs, err)
	}
	if list, err := c.ListSessions(ctx, &palyrav1.ListSessionsRequest{}); err != nil || len(list.GetSessions()) != 1 {
		t.Errorf("ListSessions = %v, %v", list, err)
	}

	// Oversized and malformed requests.
	_, err = c.Click(ctx, &palyrav1.ClickRequest{SessionId: id, Selector: strings.Repeat("a", 3000)})
	wantCode(t, "long selector", err, codes.InvalidArgument)
	_, err = c.Type(ctx, &palyrav1.TypeRequest{SessionId: id, Selector: "#name", Text: strings.Repeat("x", 5000)})
	wantCode(t, "long text", err, codes.InvalidArgument)
	_, err = c.Navigate(ctx, &palyrav1.NavigateRequest{SessionId: id, Url: page.URL + "/?" + strings.Repeat("q", 9000)})
	wantCode(t, "long url", err, codes.InvalidArgument)
	_, err = c.Press(ctx, &palyrav1.PressRequest{SessionId: id, Key: strings.Repeat("k", 100)})
	wantCode(t, "long key", err, codes.InvalidArgument)
	_, err = c.WaitFor(ctx, &palyrav1.WaitForRequest{SessionId: id})
	wantCode(t, "wait for nothing", err, codes.InvalidArgument)
	_, err = c.Title(ctx, &palyrav1.SessionRequest{SessionId: strings.Repeat("s", 100)})
	wantCode(t, "long session id", err, codes.InvalidArgument)
	_, err = c.Navigate(ctx, &palyrav1.NavigateRequest{SessionId: id, Url: "file:///etc/passwd"})
	wantCode(t, "file url", err, codes.InvalidArgument, codes.PermissionDenied)
	_, err = c.Title(ctx, &palyrav1.SessionRequest{SessionId: "NOSUCHSESSION"})
	wantCode(t, "unknown session", err, codes.NotFound)

	// A page Chromium will not load is the target's fault, said as such (one the proxy
	// cannot reach comes back as its 502).
	_, err = c.Navigate(ctx, &palyrav1.NavigateRequest{SessionId: id, Url: "http://127.0.0.1:1/"})
	wantCode(t, "an unsafe port", err, codes.FailedPrecondition)
	if err != nil && !strings.Contains(err.Error(), "could not be loaded: net::ERR_UNSAFE_PORT") {
		t.Errorf("an unsafe port: %v", err)
	}

	// A session that did not ask for private targets cannot open the loopback page.
	public, err := c.CreateSession(ctx, &palyrav1.CreateSessionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Navigate(ctx, &palyrav1.NavigateRequest{SessionId: public.GetSessionId(), Url: page.URL})
	wantCode(t, "loopback from a public session", err, codes.PermissionDenied)
	if err != nil && !strings.Contains(err.Error(), "refused") {
		t.Errorf("refusal does not say refused: %v", err)
	}
	logs, err := c.Logs(ctx, &palyrav1.SessionRequest{SessionId: public.GetSessionId()})
	if err != nil {
		t.Fatal(err)
	}
	refused := false
	for _, n := range logs.GetNetwork() {
		refused = refused || (n.GetRefused() && strings.HasPrefix(n.GetUrl(), page.URL))
	}
	if !refused {
		t.Errorf("network log has no refusal of %s: %v", page.URL, logs.GetNetwork())
	}

	// Closed sessions stay closed.
	if _, err := c.CloseSession(ctx, &palyrav1.SessionRequest{SessionId: id}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Title(ctx, &palyrav1.SessionRequest{SessionId: id})
	wantCode(t, "title after close", err, codes.FailedPrecondition, codes.NotFound)
	_, err = c.Navigate(ctx, &palyrav1.NavigateRequest{SessionId: id, Url: page.URL})
	wantCode(t, "navigate after close", err, codes.FailedPrecondition, codes.NotFound)
	_, err = c.CloseSession(ctx, &palyrav1.SessionRequest{SessionId: id})
	wantCode(t, "close twice", err, codes.FailedPrecondition, codes.NotFound)
}

func TestPrivateTargetsNeedTheServersConsent(t *testing.T) {
	needChromium(t)
	s := serve(t, chromium, false)
	s.waitServing(t)
	_, err := s.client().CreateSession(s.ctx(t), &palyrav1.CreateSessionRequest{AllowPrivateTargets: true})
	wantCode(t, "allow_private_targets without --allow-private", err, codes.PermissionDenied)
	if err != nil && !strings.Contains(err.Error(), "--allow-private") {
		t.Errorf("refusal does not name --allow-private: %v", err)
	}
}

// rebinding resolves every name to loopback, as a DNS answer an attacker controls would.
type rebinding struct{}

func (rebinding) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
}

// A name that leads to a private address is refused by the session's proxy: the client
// hears PermissionDenied and the session's network log has the refusal.
func TestANameLeadingToAPrivateAddressIsRefused(t *testing.T) {
	needChromium(t)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<title>inside</title>private"))
	}))
	defer page.Close()
	s := serveWith(t, chromium, false, rebinding{})
	s.waitServing(t)
	c := s.client()
	ctx := s.ctx(t)
	sess, err := c.CreateSession(ctx, &palyrav1.CreateSessionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(page.Listener.Addr().String())
	target := "http://intranet.example.com:" + port + "/"
	_, err = c.Navigate(ctx, &palyrav1.NavigateRequest{SessionId: sess.GetSessionId(), Url: target})
	wantCode(t, "a name resolving to loopback", err, codes.PermissionDenied)
	logs, err := c.Logs(ctx, &palyrav1.SessionRequest{SessionId: sess.GetSessionId()})
	if err != nil {
		t.Fatal(err)
	}
	refused := false
	for _, n := range logs.GetNetwork() {
		refused = refused || (n.GetRefused() && strings.Contains(n.GetUrl(), "intranet.example.com"))
	}
	if !refused {
		t.Errorf("network log has no refusal of %s: %v", target, logs.GetNetwork())
	}
}
