package netguard

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMain fails the run if any goroutine outlives the tests: every proxy, server and client
// a test starts is closed by its cleanup, and the proxy's Close waits for its own goroutines.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := waitForGoroutines(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines left after the tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

func waitForGoroutines(limit time.Duration) string {
	deadline := time.Now().Add(limit)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var left []string
		for i, g := range strings.Split(string(buf), "\n\n") {
			if i == 0 || strings.Contains(g, "os/signal.signal_recv") || strings.Contains(g, "testing.(*M).") {
				continue // this goroutine, and the runtime's own
			}
			left = append(left, g)
		}
		if len(left) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(left, "\n\n")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fakeResolver answers from a table; a name's function gets the number of the lookup (0, 1,
// ...), so a test can change the answer between lookups.
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string]func(n int) []netip.Addr
	calls   map[string]int
}

func newResolver(answers map[string]func(n int) []netip.Addr) *fakeResolver {
	return &fakeResolver{answers: answers, calls: map[string]int{}}
}

func (r *fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, ok := r.answers[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	n := r.calls[host]
	r.calls[host]++
	return f(n), nil
}

func (r *fakeResolver) lookups(host string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[host]
}

func always(addrs ...string) func(int) []netip.Addr {
	var as []netip.Addr
	for _, a := range addrs {
		as = append(as, netip.MustParseAddr(a))
	}
	return func(int) []netip.Addr { return as }
}

// refusals collects what OnRefuse hears.
type refusals struct {
	mu   sync.Mutex
	list []Refusal
}

func (r *refusals) add(x Refusal) { r.mu.Lock(); r.list = append(r.list, x); r.mu.Unlock() }

func (r *refusals) all() []Refusal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Refusal(nil), r.list...)
}

func startProxy(t testing.TB, cfg ProxyConfig) (*Proxy, *refusals) {
	t.Helper()
	seen := &refusals{}
	if cfg.OnRefuse == nil {
		cfg.OnRefuse = seen.add
	}
	if cfg.Session == "" {
		cfg.Session = "s-test"
	}
	if cfg.Resolver == nil {
		cfg.Resolver = newResolver(nil)
	}
	p, err := NewProxy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p, seen
}

// proxyClient is an HTTP client that goes through p and trusts roots (may be nil).
func proxyClient(t testing.TB, p *Proxy, roots *x509.CertPool) *http.Client {
	t.Helper()
	u, _ := url.Parse(p.URL())
	tr := &http.Transport{Proxy: http.ProxyURL(u), TLSClientConfig: &tls.Config{RootCAs: roots}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func get(t testing.TB, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", u, err)
	}
	return resp.StatusCode, string(b)
}

func startServer(t testing.TB, h http.HandlerFunc) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func hello(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "hello %s %s %s proxy-connection=%q", r.Method, r.Host, r.URL.RequestURI(), r.Header.Get("Proxy-Connection"))
}

func TestProxyHTTP(t *testing.T) {
	srv := startServer(t, hello)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	res := newResolver(map[string]func(int) []netip.Addr{"app.test": always("127.0.0.1")})
	p, seen := startProxy(t, ProxyConfig{Policy: Policy{Allow: Loopback}, Resolver: res})
	c := proxyClient(t, p, nil)

	for _, tt := range []struct{ url, want string }{
		{fmt.Sprintf("http://127.0.0.1:%d/a?b=1", port), fmt.Sprintf(`hello GET 127.0.0.1:%d /a?b=1 proxy-connection=""`, port)},
		{fmt.Sprintf("http://app.test:%d/x", port), fmt.Sprintf(`hello GET app.test:%d /x proxy-connection=""`, port)},
		{fmt.Sprintf("http://localhost:%d/", port), fmt.Sprintf(`hello GET localhost:%d / proxy-connection=""`, port)},
		{fmt.Sprintf("http://0x7f.1:%d/", port), fmt.Sprintf(`hello GET 0x7f.1:%d / proxy-connection=""`, port)},
	} {
		code, body := get(t, c, tt.url)
		if code != 200 || body != tt.want {
			t.Errorf("GET %s = %d %q, want 200 %q", tt.url, code, body, tt.want)
		}
	}
	if n := res.lookups("app.test"); n != 1 {
		t.Errorf("app.test was looked up %d times for one connection, want 1", n)
	}
	if r := seen.all(); len(r) != 0 {
		t.Errorf("refusals: %+v", r)
	}

	// A body goes through both ways.
	echo := startServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body) // HTTP/1 handlers must read the body before writing
		w.Write(b)
	})
	resp, err := c.Post(echo.URL, "text/plain", strings.NewReader(strings.Repeat("x", 100<<10)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(b) != 100<<10 {
		t.Errorf("POST echoed %d bytes, want %d", len(b), 100<<10)
	}
}

func TestProxyHTTPRefused(t *testing.T) {
	var hits atomic.Int32
	srv := startServer(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	res := newResolver(map[string]func(int) []netip.Addr{
		"app.test":   always("127.0.0.1"),
		"mixed.test": always("93.184.215.14", "127.0.0.1"),
	})
	p, seen := startProxy(t, ProxyConfig{Resolver: res})
	c := proxyClient(t, p, nil)

	for _, tt := range []struct{ url, target, msg string }{
		{fmt.Sprintf("http://127.0.0.1:%d/?token=secret", port), fmt.Sprintf("http://127.0.0.1:%d/", port),
			"refused: 127.0.0.1 is a loopback address (RFC 1122); allow private targets for this session to open it"},
		{fmt.Sprintf("http://app.test:%d/", port), fmt.Sprintf("http://app.test:%d/", port),
			"refused: app.test resolves to 127.0.0.1, a loopback address"},
		{fmt.Sprintf("http://mixed.test:%d/", port), fmt.Sprintf("http://mixed.test:%d/", port),
			"refused: mixed.test resolves to 127.0.0.1"},
		{fmt.Sprintf("http://localhost:%d/", port), fmt.Sprintf("http://localhost:%d/", port),
			"refused: localhost resolves to 127.0.0.1"},
		{fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/", port), fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/", port),
			"(IPv4-mapped 127.0.0.1) is a loopback address"},
	} {
		code, body := get(t, c, tt.url)
		if code != http.StatusForbidden || !strings.Contains(body, tt.msg) {
			t.Errorf("GET %s = %d %q, want 403 saying %q", tt.url, code, body, tt.msg)
		}
		r := seen.all()
		if len(r) == 0 {
			t.Fatalf("GET %s: no refusal reported", tt.url)
		}
		last := r[len(r)-1]
		if last.Session != "s-test" || last.Target != tt.target || last.Err.Rule != RuleRange || last.Err.Class.Kind != Loopback {
			t.Errorf("GET %s: refusal %+v (%v), want session s-test, target %s, a loopback range", tt.url, last, last.Err, tt.target)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the refused server got %d requests", n)
	}
}

func TestProxyTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(hello))
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	// httptest's certificate is for example.com and 127.0.0.1.
	res := newResolver(map[string]func(int) []netip.Addr{"example.com": always("127.0.0.1")})
	target := fmt.Sprintf("https://example.com:%d/tls", port)

	t.Run("allowed", func(t *testing.T) {
		p, _ := startProxy(t, ProxyConfig{Policy: Policy{Allow: Loopback}, Resolver: res})
		code, body := get(t, proxyClient(t, p, roots), target)
		if want := fmt.Sprintf(`hello GET example.com:%d /tls proxy-connection=""`, port); code != 200 || body != want {
			t.Errorf("GET %s = %d %q, want 200 %q", target, code, body, want)
		}
	})
	t.Run("refused", func(t *testing.T) {
		p, seen := startProxy(t, ProxyConfig{Resolver: res})
		_, err := proxyClient(t, p, roots).Get(target)
		if err == nil || !strings.Contains(err.Error(), "Forbidden") {
			t.Fatalf("GET %s through a proxy that refuses loopback: %v, want a 403 from the proxy", target, err)
		}
		r := seen.all()
		if want := fmt.Sprintf("example.com:%d", port); len(r) != 1 || r[0].Target != want || r[0].Err.Addr != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("refusals %+v, want one for %s at 127.0.0.1", r, want)
		}
	})
}

// TestProxyDNSRebinding points a name first at an allowed address, then at a refused one,
// alternately. Two servers listen on the same port of 127.0.0.2 (allowed, standing for a
// public address) and 127.0.0.1 (refused, the private one). A guard that checked a name and
// then let the connection resolve it again would reach the private server; the pinning proxy
// must only ever reach the allowed one, and look the name up once per connection.
func TestProxyDNSRebinding(t *testing.T) {
	private, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := private.Addr().(*net.TCPAddr).Port
	public, err := net.Listen("tcp", fmt.Sprintf("127.0.0.2:%d", port))
	if err != nil {
		private.Close()
		t.Skipf("can't listen on 127.0.0.2: %v", err)
	}
	serve := func(ln net.Listener, body string) {
		srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(
			func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Connection", "close") // so the proxy can't reuse the connection
				io.WriteString(w, body)
			})}}
		srv.Start()
		t.Cleanup(srv.Close)
	}
	serve(private, "SECRET")
	serve(public, "public")

	res := newResolver(map[string]func(int) []netip.Addr{
		"rebind.test": func(n int) []netip.Addr {
			if n%2 == 0 {
				return []netip.Addr{netip.MustParseAddr("127.0.0.2")}
			}
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}
		},
	})
	pol := Policy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}
	p, seen := startProxy(t, ProxyConfig{Policy: pol, Resolver: res})
	c := proxyClient(t, p, nil)
	c.Transport.(*http.Transport).DisableKeepAlives = true // a new upstream connection each time

	const n = 20
	var ok, refused int
	for i := range n {
		u := fmt.Sprintf("http://rebind.test:%d/", port)
		if i%4 >= 2 {
			// the same through a tunnel
			tunnelGet(t, p, fmt.Sprintf("rebind.test:%d", port), func(code int, body string) {
				switch {
				case code == 200 && body == "public":
					ok++
				case code == 403:
					refused++
				default:
					t.Errorf("tunnel %d: %d %q", i, code, body)
				}
			})
			continue
		}
		code, body := get(t, c, u)
		switch {
		case code == 200 && body == "public":
			ok++
		case code == 403:
			refused++
		default:
			t.Errorf("GET %s #%d = %d %q", u, i, code, body)
		}
	}
	if ok != n/2 || refused != n/2 {
		t.Errorf("%d reached the allowed server and %d were refused, want %d each", ok, refused, n/2)
	}
	if got := res.lookups("rebind.test"); got != n {
		t.Errorf("%d lookups for %d connections, want one each", got, n)
	}
	if r := seen.all(); len(r) != n/2 {
		t.Errorf("%d refusals reported, want %d", len(r), n/2)
	}
}

// tunnelGet opens a CONNECT tunnel to target through p and, if it opens, sends a GET / in it.
func tunnelGet(t testing.TB, p *Proxy, target string, check func(code int, body string)) {
	t.Helper()
	conn, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	// The GET follows the CONNECT at once, before the answer, as browsers' TLS hellos may.
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\nGET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, target, target)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatalf("CONNECT %s: %v", target, err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		check(resp.StatusCode, string(b))
		return
	}
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("GET through the tunnel to %s: %v", target, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	check(resp.StatusCode, string(b))
}

// startEcho is a TCP echo server on 127.0.0.1.
func startEcho(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// openTunnel sends CONNECT target and returns the connection once the proxy answers 200.
func openTunnel(t testing.TB, p *Proxy, target string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	status, err := readHead(conn)
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 200 ") {
		t.Fatalf("CONNECT %s: %q, %v", target, status, err)
	}
	return conn
}

// readHead reads a response head byte by byte, so nothing after it is consumed, and returns
// its status line.
func readHead(conn net.Conn) (string, error) {
	var head []byte
	b := make([]byte, 1)
	for !strings.HasSuffix(string(head), "\r\n\r\n") {
		if _, err := conn.Read(b); err != nil {
			return string(head), err
		}
		head = append(head, b[0])
	}
	status, _, _ := strings.Cut(string(head), "\r\n")
	return status, nil
}

func echoOnce(t testing.TB, conn net.Conn, msg string) {
	t.Helper()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	b := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, b); err != nil || string(b) != msg {
		t.Fatalf("echo: %q, %v; want %q", b, err, msg)
	}
}

func TestProxyMalformed(t *testing.T) {
	p, seen := startProxy(t, ProxyConfig{Policy: Policy{Allow: Loopback}, MaxHeaderBytes: 1024})
	for _, tt := range []struct {
		name, req, status string
		rule              Rule // reported, if any
	}{
		{"origin-form", "GET /x HTTP/1.1\r\nHost: a\r\n\r\n", "400", ""},
		{"garbage", "GARBAGE\r\n\r\n", "400", ""},
		{"no version", "GET http://127.0.0.1/\r\n\r\n", "400", ""},
		{"bad header", "GET http://127.0.0.1/ HTTP/1.1\r\nHost a\r\n\r\n", "400", ""},
		{"connect without port", "CONNECT example.com HTTP/1.1\r\nHost: example.com\r\n\r\n", "400", RuleMalformed},
		{"connect bad port", "CONNECT example.com:99999 HTTP/1.1\r\nHost: x\r\n\r\n", "400", RuleMalformed},
		{"connect bad host", "CONNECT 0x7g.1:443 HTTP/1.1\r\nHost: x\r\n\r\n", "400", RuleMalformed},
		{"connect bad ipv4", "CONNECT 1.2.3.256:443 HTTP/1.1\r\nHost: x\r\n\r\n", "400", RuleMalformed},
		{"connect unbracketed ipv6", "CONNECT ::1:443 HTTP/1.1\r\nHost: x\r\n\r\n", "400", ""}, // net/http refuses it
		{"connect multicast", "CONNECT 224.0.0.1:443 HTTP/1.1\r\nHost: x\r\n\r\n", "403", RuleRange},
		{"connect private", "CONNECT 10.0.0.5:443 HTTP/1.1\r\nHost: x\r\n\r\n", "403", RuleRange},
		{"connect unknown name", "CONNECT nowhere.test:443 HTTP/1.1\r\nHost: x\r\n\r\n", "502", ""},
		{"connect to the proxy", "CONNECT " + p.Addr().String() + " HTTP/1.1\r\nHost: x\r\n\r\n", "403", RuleProxyLoop},
		{"ftp", "GET ftp://127.0.0.1/ HTTP/1.1\r\nHost: x\r\n\r\n", "403", RuleScheme},
		{"https in absolute form", "GET https://127.0.0.1/ HTTP/1.1\r\nHost: x\r\n\r\n", "403", RuleScheme},
		{"credentials", "GET http://u:p@127.0.0.1/ HTTP/1.1\r\nHost: x\r\n\r\n", "403", RuleCredentials},
		{"absolute bad host", "GET http://1.2.3.256/ HTTP/1.1\r\nHost: x\r\n\r\n", "400", RuleMalformed},
		{"oversized header", "GET http://127.0.0.1/ HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 8<<10) + "\r\n\r\n", "431", ""},
		{"oversized line", "GET http://127.0.0.1/" + strings.Repeat("a", 8<<10) + " HTTP/1.1\r\nHost: x\r\n\r\n", "431", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(seen.all())
			conn, err := net.Dial("tcp", p.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(conn, tt.req)
			status, err := readHead(conn)
			if !strings.HasPrefix(status, "HTTP/1.1 "+tt.status+" ") {
				t.Errorf("%q: status %q (%v), want %s", tt.req[:min(len(tt.req), 60)], status, err, tt.status)
			}
			r := seen.all()[before:]
			switch {
			case tt.rule == "" && len(r) != 0:
				t.Errorf("reported %+v, want nothing", r)
			case tt.rule != "" && (len(r) != 1 || r[0].Err.Rule != tt.rule):
				t.Errorf("reported %+v, want one refusal by rule %s", r, tt.rule)
			}
		})
	}
}

func TestProxyHeaderTimeout(t *testing.T) {
	p, _ := startProxy(t, ProxyConfig{HeaderTimeout: 100 * time.Millisecond})
	conn, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET http://example.com/ HTTP/1.1\r\nHost: exam") // and never more
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	b, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("the proxy kept a slow client for %v: %q, %v", time.Since(start), b, err)
	}
	if len(b) > 0 && !strings.HasPrefix(string(b), "HTTP/1.1 408") {
		t.Errorf("slow client got %q", b)
	}
}

func TestProxyMaxConns(t *testing.T) {
	echo := startEcho(t)
	p, _ := startProxy(t, ProxyConfig{Policy: Policy{Allow: Loopback}, MaxConns: 2})
	first := openTunnel(t, p, echo)
	second := openTunnel(t, p, echo)
	echoOnce(t, first, "one")
	echoOnce(t, second, "two")

	third, err := net.Dial("tcp", p.Addr().String()) // the kernel accepts it; the proxy doesn't yet
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	fmt.Fprintf(third, "CONNECT %s HTTP/1.1\r\nHost: x\r\n\r\n", echo)
	third.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if status, err := readHead(third); err == nil {
		t.Fatalf("a third connection was served beyond MaxConns 2: %q", status)
	}
	first.Close()
	third.SetReadDeadline(time.Now().Add(5 * time.Second))
	if status, err := readHead(third); err != nil || !strings.HasPrefix(status, "HTTP/1.1 200 ") {
		t.Fatalf("the third connection, once a slot was free: %q, %v", status, err)
	}
	echoOnce(t, third, "three")
}

func TestProxyTunnelIdle(t *testing.T) {
	echo := startEcho(t)
	const idleTimeout = 300 * time.Millisecond
	p, _ := startProxy(t, ProxyConfig{Policy: Policy{Allow: Loopback}, IdleTimeout: idleTimeout})

	busy := openTunnel(t, p, echo)
	for start := time.Now(); time.Since(start) < 2*idleTimeout; { // traffic for longer than the timeout
		echoOnce(t, busy, "ping")
		time.Sleep(idleTimeout / 10)
	}

	idle := openTunnel(t, p, echo)
	echoOnce(t, idle, "hi")
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if n, err := idle.Read(make([]byte, 1)); err == nil {
		t.Fatalf("idle tunnel still open, read %d bytes", n)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("idle tunnel closed after %v, want about %v", d, idleTimeout)
	}
}

func TestProxySetPolicy(t *testing.T) {
	echo := startEcho(t)
	p, seen := startProxy(t, ProxyConfig{Policy: Policy{Allow: PrivateKinds}})
	conn := openTunnel(t, p, echo)
	echoOnce(t, conn, "before")

	p.SetPolicy(Policy{Allow: Private}) // loopback no more
	if got := p.Policy(); got.Allow != Private {
		t.Errorf("Policy() = %v, want private", got.Allow)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatalf("a tunnel to loopback stayed open after loopback was refused (read %d)", n)
	}
	c2, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	fmt.Fprintf(c2, "CONNECT %s HTTP/1.1\r\nHost: x\r\n\r\n", echo)
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if status, _ := readHead(c2); !strings.HasPrefix(status, "HTTP/1.1 403 ") {
		t.Errorf("CONNECT to loopback after SetPolicy: %q, want 403", status)
	}
	if r := seen.all(); len(r) != 1 {
		t.Errorf("refusals %+v, want one", r)
	}
}

func TestProxyWebSocketAbsoluteForm(t *testing.T) {
	// A ws:// request in absolute form, upgraded, then echoed.
	srv := startServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "want an upgrade", 400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		io.Copy(conn, brw)
	})
	p, _ := startProxy(t, ProxyConfig{Policy: Policy{Allow: Loopback}})
	conn, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	host := srv.Listener.Addr().String()
	fmt.Fprintf(conn, "GET ws://%s/ws HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", host, host)
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if status, err := readHead(conn); err != nil || !strings.HasPrefix(status, "HTTP/1.1 101 ") {
		t.Fatalf("upgrade: %q, %v", status, err)
	}
	echoOnce(t, conn, "frame")
}

func TestProxyCheckResponse(t *testing.T) {
	p, _ := startProxy(t, ProxyConfig{})
	port := int(p.Addr().Port())
	for _, tt := range []struct {
		ip      string
		port    int
		refused bool
	}{
		{"127.0.0.1", port, false}, // through the proxy
		{"", 0, false},             // from cache
		{"93.184.215.14", 443, false},
		{"127.0.0.1", port + 1, true}, // bypassed the proxy
		{"10.0.0.5", 80, true},
		{"[::1]", 443, true},
		{"::ffff:169.254.169.254", 80, true},
		{"not-an-ip", 80, true},
	} {
		err := p.CheckResponse(tt.ip, tt.port)
		if (err != nil) != tt.refused {
			t.Errorf("CheckResponse(%q, %d) = %v, want refused %v", tt.ip, tt.port, err, tt.refused)
		}
	}
}

func TestProxyClose(t *testing.T) {
	echo := startEcho(t)
	srv := startServer(t, hello)
	p, err := NewProxy(ProxyConfig{Policy: Policy{Allow: Loopback}})
	if err != nil {
		t.Fatal(err)
	}
	tunnel := openTunnel(t, p, echo)
	echoOnce(t, tunnel, "x")
	c := proxyClient(t, p, nil)
	if code, _ := get(t, c, srv.URL); code != 200 { // leaves a kept-alive connection
		t.Fatalf("GET through the proxy: %d", code)
	}
	stalled, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	io.WriteString(stalled, "GET http://")

	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	tunnel.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := tunnel.Read(make([]byte, 1)); err == nil {
		t.Error("a tunnel outlived Close")
	}
	if _, err := net.DialTimeout("tcp", p.Addr().String(), time.Second); err == nil {
		t.Error("the proxy still accepts after Close")
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestProxyConcurrent runs browsers' worth of parallel requests and tunnels, some refused; run
// it with -race -count=50.
func TestProxyConcurrent(t *testing.T) {
	echo := startEcho(t)
	srv := startServer(t, hello)
	res := newResolver(map[string]func(int) []netip.Addr{
		"ok.test":      always("127.0.0.1"),
		"private.test": always("10.0.0.5"),
	})
	p, seen := startProxy(t, ProxyConfig{Policy: Policy{Allow: Loopback}, Resolver: res, MaxConns: 16})
	c := proxyClient(t, p, nil)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 32 {
		wg.Go(func() {
			switch i % 4 {
			case 0, 1:
				resp, err := c.Get(fmt.Sprintf("http://ok.test:%d/%d", port, i))
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("GET %d: %d", i, resp.StatusCode)
				}
			case 2:
				resp, err := c.Get(fmt.Sprintf("http://private.test:%d/", port))
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 403 {
					errs <- fmt.Errorf("GET private %d: %d", i, resp.StatusCode)
				}
			case 3:
				conn, err := net.Dial("tcp", p.Addr().String())
				if err != nil {
					errs <- err
					return
				}
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(5 * time.Second))
				fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: x\r\n\r\n", echo)
				if status, err := readHead(conn); err != nil || !strings.HasPrefix(status, "HTTP/1.1 200") {
					errs <- fmt.Errorf("CONNECT %d: %q %v", i, status, err)
					return
				}
				msg := fmt.Sprintf("msg-%d", i)
				io.WriteString(conn, msg)
				b := make([]byte, len(msg))
				if _, err := io.ReadFull(conn, b); err != nil || string(b) != msg {
					errs <- fmt.Errorf("echo %d: %q %v", i, b, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(seen.all()); n != 8 {
		t.Errorf("%d refusals, want 8", n)
	}
}

func TestProxyDialError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	p, seen := startProxy(t, ProxyConfig{Policy: Policy{Allow: Loopback}})
	code, body := get(t, proxyClient(t, p, nil), "http://"+addr+"/")
	if code != http.StatusBadGateway || !strings.Contains(body, "refused") && !strings.Contains(body, "connect") {
		t.Errorf("GET to a closed port = %d %q, want 502", code, body)
	}
	if r := seen.all(); len(r) != 0 {
		t.Errorf("a failed dial was reported as a refusal: %+v", r)
	}
}

var errSink error

func TestRefusedErrorIs(t *testing.T) {
	errSink = fmt.Errorf("wrapped: %w", &RefusedError{Rule: RuleScheme, Detail: "x"})
	if !errors.Is(errSink, ErrRefused) {
		t.Error("a wrapped *RefusedError is not ErrRefused")
	}
}
