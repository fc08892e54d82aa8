package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNavigateTitleText(t *testing.T) {
	t.Parallel()
	e := sharedEngine(t)
	site := testSite(t)
	id := create(t, e)
	res := navigate(t, e, id, site.URL+"/")
	if res.Status != 200 || res.Title != "Hello page" || res.URL != site.URL+"/" {
		t.Fatalf("navigate = %+v", res)
	}
	ctx := context.Background()
	title, err := e.Title(ctx, id)
	if err != nil || title != "Hello page" {
		t.Fatalf("title = %q, %v", title, err)
	}
	text, truncated, err := e.Text(ctx, id)
	if err != nil || truncated {
		t.Fatal(err, truncated)
	}
	if !strings.Contains(text, "Welcome") || !strings.Contains(text, "Some visible text.") || strings.Contains(text, "hidden words") {
		t.Fatalf("text = %q", text)
	}
	if info, _ := e.Get(id); info.URL != site.URL+"/" || info.Actions != 3 {
		t.Fatalf("info = %+v", info)
	}
	if _, err := e.Navigate(ctx, id, "file:///etc/passwd"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("file URL: %v", err)
	}
}

func TestFormClickTypeSelectPress(t *testing.T) {
	t.Parallel()
	e := sharedEngine(t)
	site := testSite(t)
	id := create(t, e)
	ctx := context.Background()
	navigate(t, e, id, site.URL+"/form")
	if err := e.Type(ctx, id, "#name", "Ada", false); err != nil {
		t.Fatal(err)
	}
	if err := e.Select(ctx, id, "#color", "green"); err != nil {
		t.Fatal(err)
	}
	if err := e.Click(ctx, id, "#send"); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitFor(ctx, id, Wait{Text: "Hello, Ada in g"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Type(ctx, id, "#enter", "go", true); err != nil {
		t.Fatal(err)
	}
	if err := e.Press(ctx, id, "Enter"); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitFor(ctx, id, Wait{Text: "entered go"}); err != nil {
		t.Fatal(err)
	}

	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	err := e.Click(short, id, "#missing")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "#missing") {
		t.Fatalf("missing element: %v", err)
	}
	if err := e.Select(ctx, id, "#color", "blue"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("missing option: %v", err)
	}
	if err := e.Click(ctx, id, "##bad"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad selector: %v", err)
	}
	if err := e.Press(ctx, id, "Hyper+Q"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad key: %v", err)
	}

	logs, err := e.Logs(id)
	if err != nil {
		t.Fatal(err)
	}
	var sawLog, sawErr, sawDoc bool
	for _, c := range logs.Console {
		sawLog = sawLog || (c.Level == "info" && c.Text == "form ready 42")
		sawErr = sawErr || (c.Level == "error" && c.Text == "oops")
	}
	for _, n := range logs.Network {
		sawDoc = sawDoc || (n.URL == site.URL+"/form" && n.Status == 200 && strings.HasPrefix(n.RemoteAddr, "127.0.0.1:"))
	}
	if !sawLog || !sawErr || !sawDoc {
		t.Fatalf("logs = %+v", logs)
	}
}

func TestSnapshotRolesNamesRefs(t *testing.T) {
	t.Parallel()
	e := sharedEngine(t)
	site := testSite(t)
	id := create(t, e)
	ctx := context.Background()
	navigate(t, e, id, site.URL+"/form")
	snap, err := e.Snapshot(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	find := func(role, name string) SnapshotNode {
		for _, n := range snap.Nodes {
			if n.Role == role && n.Name == name {
				return n
			}
		}
		t.Fatalf("no %s %q in\n%s", role, name, snap.Text)
		return SnapshotNode{}
	}
	find("heading", "Greeter")
	find("textbox", "Your name")
	find("link", "Home")
	find("combobox", "Colour")
	send := find("button", "Send")
	if send.Ref == "" || !strings.Contains(snap.Text, `- button "Send" [ref=`+send.Ref+`]`) || snap.Title != "Form" {
		t.Fatalf("snapshot:\n%s", snap.Text)
	}
	// Refs act like selectors.
	if err := e.Type(ctx, id, "ref="+find("textbox", "Your name").Ref, "Bo", false); err != nil {
		t.Fatal(err)
	}
	if err := e.Click(ctx, id, "ref="+send.Ref); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitFor(ctx, id, Wait{Text: "Hello, Bo in r"}); err != nil {
		t.Fatal(err)
	}
}

func TestScreenshotIsViewportPNG(t *testing.T) {
	t.Parallel()
	e := startEngine(t, Config{ViewportWidth: 800, ViewportHeight: 600, MaxScreenshotBytes: 100 << 10})
	site := testSite(t)
	id := create(t, e)
	navigate(t, e, id, site.URL+"/")
	b, err := e.Screenshot(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if s := img.Bounds().Size(); s.X != 800 || s.Y != 600 {
		t.Fatalf("screenshot is %v, want 800x600", s)
	}
	navigate(t, e, id, site.URL+"/noise") // 800×600 random pixels: ~1.4 MB of PNG
	if _, err := e.Screenshot(context.Background(), id); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversize screenshot: %v", err)
	}
}

func TestSessionsHaveIsolatedCookies(t *testing.T) {
	t.Parallel()
	e := sharedEngine(t)
	site := testSite(t)
	a, b := create(t, e), create(t, e)
	navigate(t, e, a, site.URL+"/cookie/set?v=alice")
	navigate(t, e, a, site.URL+"/cookie/get")
	navigate(t, e, b, site.URL+"/cookie/get")
	ctx := context.Background()
	ta, _, _ := e.Text(ctx, a)
	tb, _, _ := e.Text(ctx, b)
	if ta != "cookie=alice" || tb != "cookie=none" {
		t.Fatalf("a sees %q, b sees %q", ta, tb)
	}
}

func TestGuardRefusesSubresourceAndNavigation(t *testing.T) {
	t.Parallel()
	e := sharedEngine(t)
	g := e.cfg.Guard.(*pathGuard)
	site := testSite(t)
	id := create(t, e)
	ctx := context.Background()

	navigate(t, e, id, site.URL+"/with-blocked")
	if _, err := e.Navigate(ctx, id, site.URL+"/blocked/page"); !errors.Is(err, ErrRefused) {
		t.Fatalf("navigate to a refused URL: %v", err)
	}
	if _, err := e.Navigate(ctx, id, site.URL+"/to-blocked"); !errors.Is(err, ErrRefused) {
		t.Fatalf("redirect to a refused URL: %v", err)
	}
	logs, _ := e.Logs(id)
	refused := map[string]bool{}
	for _, n := range logs.Network {
		if n.Refused {
			refused[strings.TrimPrefix(n.URL, site.URL)] = true
			if !strings.Contains(n.Error, "test policy refuses /blocked") {
				t.Errorf("refusal without its reason: %+v", n)
			}
		}
	}
	if !refused["/blocked/pixel.png"] || !refused["/blocked/page"] || len(refused) != 2 {
		t.Fatalf("refused = %v; log %+v", refused, logs.Network)
	}
	g.mu.Lock()
	seen := strings.Join(g.seen, " ")
	g.mu.Unlock()
	if !strings.Contains(seen, site.URL+"/ok.png") {
		t.Fatalf("the guard did not see the allowed subresource: %s", seen)
	}
}

func TestRefusedRemoteAddressEndsSession(t *testing.T) {
	t.Parallel()
	g := &pathGuard{refuseAddr: map[netip.Addr]bool{netip.MustParseAddr("127.0.0.1"): true}}
	e := startEngine(t, Config{Guard: g})
	site := testSite(t)
	id := create(t, e)
	e.Navigate(context.Background(), id, site.URL+"/")
	eventually(t, 5*time.Second, "session ended", func() bool {
		_, err := e.Get(id)
		return errors.Is(err, ErrRefused)
	})
	_, err := e.Title(context.Background(), id)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("action after the incident: %v", err)
	}
}

func TestDownloadsIntoSessionDirWithLimit(t *testing.T) {
	t.Parallel()
	e := sharedEngine(t) // 5000 bytes a session
	site := testSite(t)
	id := create(t, e)
	ctx := context.Background()
	navigate(t, e, id, site.URL+"/download-page?n=1200")
	if err := e.Click(ctx, id, "#dl"); err != nil {
		t.Fatal(err)
	}
	var dl []Download
	eventually(t, 5*time.Second, "download completes", func() bool {
		dl, _ = e.Downloads(id)
		return len(dl) == 1 && dl[0].State == "completed" && dl[0].Path != ""
	})
	// Chromium sanitises the server's "../data.bin" itself; the engine keeps it one name.
	if dl[0].Bytes != 1200 || !strings.HasSuffix(dl[0].Name, "data.bin") || strings.Contains(dl[0].Name, "/") || !strings.HasPrefix(dl[0].Path, e.cfg.DownloadDir) {
		t.Fatalf("download = %+v", dl[0])
	}
	navigate(t, e, id, site.URL+"/download-page?n=9000")
	if err := e.Click(ctx, id, "#dl"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "oversize download cancelled", func() bool {
		dl, _ = e.Downloads(id)
		return len(dl) == 2 && dl[1].State == "canceled"
	})
	if !strings.Contains(dl[1].Error, "5000 bytes") {
		t.Fatalf("cancelled download = %+v", dl[1])
	}
	// A download from a subframe counts against the session too.
	navigate(t, e, id, site.URL+"/download-frame?n=9000")
	eventually(t, 5*time.Second, "oversize download from an iframe cancelled", func() bool {
		dl, _ = e.Downloads(id)
		return len(dl) == 3 && dl[2].State == "canceled"
	})
}

// proxyGuard sends every session through proxy and refuses loopback addresses, which
// only a skipped address check lets pass: behind a proxy the remote address is the proxy's.
type proxyGuard struct {
	pathGuard
	proxy string
}

func (g *proxyGuard) ProxyFor(string) string { return g.proxy }

func TestSessionProxy(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var hosts []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hosts = append(hosts, r.URL.Host)
		mu.Unlock()
		if !r.URL.IsAbs() {
			http.Error(w, "not a proxy request", http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, `<html><head><title>via proxy to %s</title></head><body>ok</body></html>`, r.URL.Host)
	}))
	defer proxy.Close()
	g := &proxyGuard{proxy: proxy.URL}
	g.refuseAddr = map[netip.Addr]bool{netip.MustParseAddr("127.0.0.1"): true}
	e := startEngine(t, Config{Guard: g})
	id := create(t, e)
	if info, _ := e.Get(id); info.Proxy != proxy.URL {
		t.Fatalf("session proxy = %q", info.Proxy)
	}
	if res := navigate(t, e, id, "http://example.test/"); res.Title != "via proxy to example.test" {
		t.Fatalf("navigate = %+v", res)
	}
	// Loopback goes through the proxy too (no implicit bypass).
	if res := navigate(t, e, id, "http://127.0.0.1:65000/x"); res.Title != "via proxy to 127.0.0.1:65000" {
		t.Fatalf("navigate to loopback = %+v", res)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hosts) < 2 || hosts[0] != "example.test" {
		t.Fatalf("proxy saw %v", hosts)
	}
	// The refused loopback address did not end it: behind a proxy the check is skipped.
	if _, err := e.Get(id); err != nil {
		t.Fatalf("session behind the proxy: %v", err)
	}
}

func TestRefusedWebSocketEndsSession(t *testing.T) {
	t.Parallel()
	e := sharedEngine(t) // refuses /blocked
	site := testSite(t)
	id := create(t, e)
	navigate(t, e, id, site.URL+"/")
	// Not under /blocked/: the handshake may reach the server, whose /blocked/ handler fails the test.
	ws := strings.Replace(site.URL, "http://", "ws://", 1) + "/ws/blocked-socket?token=s3cret"
	if _, _, err := e.Scroll(context.Background(), id, 0, 0); err != nil { // the page works
		t.Fatal(err)
	}
	s, _ := e.lookup(id)
	// The session may end before the call returns, cancelling it: no check of its error.
	evalValue[bool](s.activeTabCtx(), "new WebSocket("+jsString(ws)+"), true")
	eventually(t, 5*time.Second, "session ended by the WebSocket", func() bool {
		_, err := e.Get(id)
		return errors.Is(err, ErrRefused)
	})
	_, err := e.Get(id)
	if !strings.Contains(err.Error(), "WebSocket") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("why = %v", err)
	}
}

func TestGuardSeesDedicatedWorkerRequests(t *testing.T) {
	t.Parallel()
	e := sharedEngine(t) // refuses /blocked
	site := testSite(t)
	id := create(t, e)
	navigate(t, e, id, site.URL+"/worker")
	eventually(t, 5*time.Second, "the worker's fetch refused and logged", func() bool {
		logs, _ := e.Logs(id)
		var logged, told bool
		for _, n := range logs.Network {
			logged = logged || (n.Refused && n.URL == site.URL+"/blocked/from-worker")
		}
		for _, c := range logs.Console {
			told = told || c.Text == "worker refused"
		}
		return logged && told
	})
}
