package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// requireChromium skips a test that needs Chromium when there is none, except under CI=1,
// where a missing browser is a failure.
func requireChromium(tb testing.TB) {
	tb.Helper()
	if _, err := findChromium(os.Getenv("PALYRA_CHROMIUM")); err != nil {
		if os.Getenv("CI") == "1" {
			tb.Fatalf("CI=1 and %v", err)
		}
		tb.Skipf("needs Chromium: %v", err)
	}
}

// startEngine starts an engine with cfg (defaults filled in for tests) and waits until
// its browser is up.
func startEngine(tb testing.TB, cfg Config) *Engine {
	tb.Helper()
	requireChromium(tb)
	cfg.ChromiumPath = os.Getenv("PALYRA_CHROMIUM")
	if cfg.DownloadDir == "" {
		cfg.DownloadDir = tb.TempDir()
	}
	e := New(cfg)
	if err := e.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close() })
	if h := e.Health(); h.Status != StatusOK {
		tb.Fatalf("health after Start: %+v", h)
	}
	return e
}

var shared struct {
	once sync.Once
	e    *Engine
	err  error
}

// sharedEngine is one engine for the tests that need nothing of their own but a session,
// so the package's tests start fewer browsers. Its Guard refuses "/blocked" URLs; a
// session may download 5000 bytes and open 2 tabs. TestMain closes it.
func sharedEngine(tb testing.TB) *Engine {
	tb.Helper()
	requireChromium(tb)
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "palyra-engine-test-")
		if err != nil {
			shared.err = err
			return
		}
		shared.e = New(Config{
			ChromiumPath: os.Getenv("PALYRA_CHROMIUM"), DownloadDir: dir,
			Guard: &pathGuard{}, MaxDownloadBytes: 5000, MaxTabs: 2,
		})
		if err := shared.e.Start(context.Background()); err != nil {
			shared.err = err
		} else if h := shared.e.Health(); h.Status != StatusOK {
			shared.err = fmt.Errorf("health after Start: %+v", h)
		}
	})
	if shared.err != nil {
		tb.Fatal(shared.err)
	}
	return shared.e
}

func closeShared() {
	if shared.e != nil {
		shared.e.Close()
		os.RemoveAll(shared.e.cfg.DownloadDir)
	}
}

func create(tb testing.TB, e *Engine) string {
	tb.Helper()
	info, err := e.Create(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.CloseSession(info.ID) })
	return info.ID
}

func navigate(tb testing.TB, e *Engine, id, url string) NavResult {
	tb.Helper()
	res, err := e.Navigate(context.Background(), id, url)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// eventually polls cond every 20ms until it holds or d passes. A cond that takes session
// actions should use eventuallyEvery, or it spends the session's rate budget.
func eventually(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	eventuallyEvery(tb, d, 20*time.Millisecond, what, cond)
}

func eventuallyEvery(tb testing.TB, d, every time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(every)
	}
}

const formPage = `<!doctype html><html><head><title>Form</title></head><body>
<h1>Greeter</h1>
<label for="name">Your name</label> <input id="name" type="text">
<label for="color">Colour</label>
<select id="color"><option value="r">red</option><option value="g">green</option></select>
<button id="send" onclick="document.getElementById('out').textContent = 'Hello, ' + document.getElementById('name').value + ' in ' + document.getElementById('color').value">Send</button>
<input id="enter" onkeydown="if (event.key === 'Enter') document.getElementById('out').textContent = 'entered ' + this.value">
<a href="/">Home</a>
<div id="out"></div>
<script>console.log('form ready', 42); console.error('oops')</script>
</body></html>`

// testSite serves the pages the tests visit, on loopback.
func testSite(tb testing.TB) *httptest.Server {
	tb.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><html><head><title>Hello page</title></head><body><h1>Welcome</h1><p>Some visible text.</p><p style="display:none">hidden words</p></body></html>`)
	})
	mux.HandleFunc("/form", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, formPage) })
	mux.HandleFunc("/cookie/set", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "who", Value: r.URL.Query().Get("v"), Path: "/"})
		fmt.Fprint(w, `<html><body>set</body></html>`)
	})
	mux.HandleFunc("/cookie/get", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("who")
		v := "none"
		if err == nil {
			v = c.Value
		}
		fmt.Fprintf(w, `<html><body>cookie=%s</body></html>`, v)
	})
	mux.HandleFunc("/with-blocked", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<html><head><title>img</title></head><body><img src="/blocked/pixel.png"><img src="/ok.png"></body></html>`)
	})
	mux.HandleFunc("/worker", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<html><body><script>
const src = "fetch('" + location.origin + "/blocked/from-worker').then(r => postMessage('fetched')).catch(e => postMessage('refused'))";
const w = new Worker(URL.createObjectURL(new Blob([src], {type: 'text/javascript'})));
w.onmessage = m => console.log('worker', m.data);
</script></body></html>`)
	})
	mux.HandleFunc("/popup", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<html><body><a id="open" href="/" target="_blank">open</a></body></html>`)
	})
	mux.HandleFunc("/ok.png", func(w http.ResponseWriter, r *http.Request) { w.Header().Set("Content-Type", "image/png") })
	mux.HandleFunc("/blocked/", func(w http.ResponseWriter, r *http.Request) {
		tb.Errorf("the guard let %s through", r.URL)
	})
	mux.HandleFunc("/to-blocked", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/blocked/page", http.StatusFound)
	})
	mux.HandleFunc("/noise", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<html><body style="margin:0"><canvas id="c" width="800" height="600"></canvas><script>
const c = document.getElementById('c').getContext('2d'), img = c.createImageData(800, 600);
for (let i = 0; i < img.data.length; i++) img.data[i] = Math.random() * 256 | 0;
c.putImageData(img, 0, 0);</script></body></html>`)
	})
	mux.HandleFunc("/download", func(w http.ResponseWriter, r *http.Request) {
		n := 1000
		fmt.Sscan(r.URL.Query().Get("n"), &n)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="../data.bin"`)
		w.Write([]byte(strings.Repeat("x", n)))
	})
	mux.HandleFunc("/download-frame", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<html><body><iframe src="/download?n=%s"></iframe></body></html>`, r.URL.Query().Get("n"))
	})
	mux.HandleFunc("/download-page", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<html><body><a id="dl" href="/download?n=%s">get</a></body></html>`, r.URL.Query().Get("n"))
	})
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	return srv
}

// pathGuard refuses URLs containing "/blocked" and any address in refuseAddr.
type pathGuard struct {
	mu         sync.Mutex
	refuseAddr map[netip.Addr]bool
	seen       []string
}

func (g *pathGuard) CheckURL(sessionID, rawURL string) error {
	g.mu.Lock()
	g.seen = append(g.seen, rawURL)
	g.mu.Unlock()
	if strings.Contains(rawURL, "/blocked") {
		return errors.New("test policy refuses /blocked")
	}
	return nil
}

func (g *pathGuard) CheckAddr(sessionID string, ip netip.Addr) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.refuseAddr[ip] {
		return fmt.Errorf("test policy refuses %s", ip)
	}
	return nil
}

func (g *pathGuard) ProxyFor(string) string { return "" }

// chromiumWith lists the pids of live (not zombie) processes whose command line holds s.
func chromiumWith(s string) []int {
	out, _ := exec.Command("ps", "-eo", "pid=,stat=,args=").Output()
	var pids []int
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || strings.HasPrefix(f[1], "Z") || !strings.Contains(line, s) || strings.Contains(line, "ps -eo") {
			continue
		}
		var pid int
		fmt.Sscan(f[0], &pid)
		pids = append(pids, pid)
	}
	return pids
}

// activeTabCtx is the active tab's context, for tests that act as the page.
func (s *session) activeTabCtx() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.activeTab().ctx
}
