package netguard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Resolver looks up the addresses of a name; *net.Resolver is one. Tests inject their own.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// ProxyConfig configures a Proxy. Only the zero values' defaults are needed in production
// besides Session, Policy and OnRefuse.
type ProxyConfig struct {
	// Session names the browser session in refusals and logs.
	Session string
	// Policy is what the session may open; SetPolicy changes it later.
	Policy Policy
	// OnRefuse hears of every refused target. It runs on the connection's goroutine, so it
	// should only record the refusal (on the session, in a log) and return.
	OnRefuse func(Refusal)
	// Resolver resolves names, once per upstream connection; nil is net.DefaultResolver.
	Resolver Resolver
	// Logger gets a line per refusal and the HTTP server's own complaints; nil discards.
	Logger *slog.Logger

	// ListenAddr is where the proxy listens, "127.0.0.1:0" (any free loopback port) if empty.
	ListenAddr string
	// MaxConns bounds the browser's connections to the proxy (tunnels included); further
	// connections wait in the listen queue. Default 256.
	MaxConns int
	// MaxHeaderBytes bounds a request's line and headers (net/http adds 4 KiB of slack);
	// larger ones get 431. Default 64 KiB.
	MaxHeaderBytes int
	// HeaderTimeout bounds reading a request's headers. Default 10 s.
	HeaderTimeout time.Duration
	// IdleTimeout closes a tunnel, an upstream connection or a kept-alive browser
	// connection that has carried nothing for this long. Default 2 min.
	IdleTimeout time.Duration
	// DialTimeout bounds resolving a name and connecting to it. Default 10 s.
	DialTimeout time.Duration
}

// Refusal is a target the proxy refused.
type Refusal struct {
	Session string
	// Target is what the browser asked for: "host:port" for a CONNECT tunnel (https, wss),
	// the URL without its query for a plain http request.
	Target string
	// Err says which rule refused it and, for RuleRange, the address and its class.
	Err *RefusedError
}

// Proxy is a pinning forward proxy for one browser session: an HTTP proxy on loopback that
// tunnels CONNECT (https, wss) and forwards absolute-URI requests (http, ws). For every
// upstream connection it resolves the name once, checks every address against the policy and
// connects to exactly a checked address, so a DNS answer that changes between check and
// connect (rebinding) has nothing to change. Refused targets get a 403 and a Refusal.
type Proxy struct {
	cfg      ProxyConfig
	policy   atomic.Pointer[Policy]
	resolver Resolver
	log      *slog.Logger
	ln       *limitListener
	addr     netip.AddrPort
	srv      *http.Server
	rp       *httputil.ReverseProxy
	tr       *http.Transport

	// ctx is the proxy's lifetime: request contexts and dials derive from it, so Close
	// cancels them.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool
	upstreams map[*upstream]struct{}
	wg        sync.WaitGroup // Serve, handlers, tunnels
	closeOnce sync.Once
	closeErr  error
}

// NewProxy listens on ListenAddr and serves until Close.
func NewProxy(cfg ProxyConfig) (*Proxy, error) {
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = "127.0.0.1:0"
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 256
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = 64 << 10
	}
	if cfg.HeaderTimeout <= 0 {
		cfg.HeaderTimeout = 10 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 2 * time.Minute
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	p := &Proxy{cfg: cfg, resolver: cfg.Resolver, log: cfg.Logger, upstreams: map[*upstream]struct{}{}}
	if p.resolver == nil {
		p.resolver = net.DefaultResolver
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("session", cfg.Session)
	pol := cfg.Policy
	p.policy.Store(&pol)

	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("target guard proxy: %w", err)
	}
	p.addr = ln.Addr().(*net.TCPAddr).AddrPort()
	p.ln = &limitListener{Listener: ln, sem: make(chan struct{}, cfg.MaxConns), done: make(chan struct{})}
	p.ctx, p.cancel = context.WithCancel(context.Background())

	p.tr = &http.Transport{
		Proxy:                  nil, // never the environment's proxy
		DialContext:            p.dialTransport,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    6,
		IdleConnTimeout:        cfg.IdleTimeout,
		MaxResponseHeaderBytes: 256 << 10, // Chromium's own limit
		DisableCompression:     true,      // pass the browser's Accept-Encoding through
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:      func(*httputil.ProxyRequest) {}, // the URL is set by ServeHTTP; no X-Forwarded-*
		Transport:    p.tr,
		ErrorHandler: p.forwardError,
		ErrorLog:     slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
	}
	p.srv = &http.Server{
		Handler:           http.HandlerFunc(p.serveHTTP),
		ReadHeaderTimeout: cfg.HeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return p.ctx },
		ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.srv.Serve(p.ln) // returns when Close closes the listener
	}()
	return p, nil
}

// Addr is the proxy's listening address.
func (p *Proxy) Addr() netip.AddrPort { return p.addr }

// URL is the proxy as Chromium takes it: "http://127.0.0.1:40123", for --proxy-server or
// CDP Target.createBrowserContext's proxyServer.
func (p *Proxy) URL() string { return "http://" + p.addr.String() }

// BypassList is the proxy bypass list to give Chromium with the proxy: "<-loopback>" removes
// Chromium's implicit bypass of localhost, *.localhost and 127.0.0.0/8, so those go through
// the proxy (and its policy) too. For --proxy-bypass-list or createBrowserContext's
// proxyBypassList.
const BypassList = "<-loopback>"

// ChromiumFlags are the command-line flags that send a whole Chromium through this proxy,
// for an engine that runs one Chromium per session. WebRTC is kept off non-proxied UDP,
// which would otherwise reach any address without asking the proxy.
func (p *Proxy) ChromiumFlags() []string {
	return []string{
		"--proxy-server=" + p.URL(),
		"--proxy-bypass-list=" + BypassList,
		"--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
	}
}

// Policy is the session's current policy: the one an engine's CheckURL of each request
// (CDP Fetch.requestPaused) should use.
func (p *Proxy) Policy() Policy { return *p.policy.Load() }

// SetPolicy changes what the session may open from now on. Upstream connections the new
// policy refuses are closed at once, so a browser can't go on reusing a tunnel opened under
// a laxer policy.
func (p *Proxy) SetPolicy(pol Policy) {
	p.policy.Store(&pol)
	p.mu.Lock()
	var refused []*upstream
	for u := range p.upstreams {
		if pol.CheckResolved(u.host, []netip.Addr{u.addr}) != nil {
			refused = append(refused, u)
		}
	}
	p.mu.Unlock()
	for _, u := range refused {
		u.Close()
	}
	p.tr.CloseIdleConnections()
}

// CheckResponse checks the remote address Chromium reports for a response (CDP
// Network.Response remoteIPAddress and remotePort). A response that came through this proxy
// reports the proxy's own address, which passes: the proxy checked the real one before
// connecting. Any other address means the request bypassed the proxy, and is checked against
// the policy. An empty address (a response from cache or a service worker) passes.
func (p *Proxy) CheckResponse(remoteIP string, remotePort int) error {
	remoteIP = strings.TrimSuffix(strings.TrimPrefix(remoteIP, "["), "]")
	if remoteIP == "" {
		return nil
	}
	a, err := netip.ParseAddr(remoteIP)
	if err != nil {
		return &RefusedError{Rule: RuleMalformed, Detail: "remote address " + strconv.Quote(remoteIP)}
	}
	if a.Unmap() == p.addr.Addr() && remotePort == int(p.addr.Port()) {
		return nil
	}
	return p.Policy().CheckAddr(a)
}

// Close stops the proxy: it stops listening, closes every browser and upstream connection,
// and returns once all of the proxy's goroutines have ended.
func (p *Proxy) Close() error {
	p.closeOnce.Do(func() {
		p.cancel()
		close(p.ln.done)
		p.closeErr = p.srv.Close()
		p.mu.Lock()
		p.closed = true
		ups := make([]*upstream, 0, len(p.upstreams))
		for u := range p.upstreams {
			ups = append(ups, u)
		}
		p.mu.Unlock()
		for _, u := range ups {
			u.Close()
		}
		p.wg.Wait()
		p.tr.CloseIdleConnections()
	})
	return p.closeErr
}

// track counts a goroutine Close must wait for, unless the proxy is closing.
func (p *Proxy) track() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	return true
}

func (p *Proxy) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !p.track() {
		http.Error(w, "palyra target guard: closing", http.StatusServiceUnavailable)
		return
	}
	defer p.wg.Done()
	if r.Method == http.MethodConnect {
		p.serveConnect(w, r)
		return
	}
	p.serveForward(w, r)
}

// serveForward passes on a plain http (or ws) request made in absolute form.
func (p *Proxy) serveForward(w http.ResponseWriter, r *http.Request) {
	if !r.URL.IsAbs() {
		http.Error(w, "palyra target guard: this is a proxy; send an absolute URL or CONNECT", http.StatusBadRequest)
		return
	}
	raw := r.RequestURI
	switch strings.ToLower(r.URL.Scheme) {
	case "http":
	case "ws":
		raw = "http" + raw[2:]
	default:
		// https goes through CONNECT; anything else isn't for a browser proxy.
		p.refuse(w, redactURL(r.URL), &RefusedError{Rule: RuleScheme, Detail: "scheme " + strconv.Quote(r.URL.Scheme) + " is not allowed through the proxy"})
		return
	}
	t, err := ParseURL(raw)
	if err != nil {
		p.refuse(w, redactURL(r.URL), err)
		return
	}
	out := r.Clone(r.Context())
	out.URL.Scheme = "http"
	out.URL.Host = net.JoinHostPort(strings.Trim(t.Host.String(), "[]"), strconv.Itoa(int(t.Port)))
	out.URL.User = nil
	out.RequestURI = ""
	out = out.WithContext(context.WithValue(out.Context(), targetKey{}, t.Host))
	p.rp.ServeHTTP(w, out)
}

type targetKey struct{}

// dialTransport is the Transport's dialer: the host ParseURL read comes in the context.
func (p *Proxy) dialTransport(ctx context.Context, network, hostport string) (net.Conn, error) {
	h, ok := ctx.Value(targetKey{}).(Host)
	_, portStr, err := net.SplitHostPort(hostport)
	if !ok || err != nil {
		return nil, fmt.Errorf("target guard: dial %s without a checked target", hostport)
	}
	port, _ := strconv.ParseUint(portStr, 10, 16)
	u, err := p.dial(ctx, h, uint16(port))
	if err != nil {
		return nil, err
	}
	u.idle = p.cfg.IdleTimeout
	return u, nil
}

func (p *Proxy) forwardError(w http.ResponseWriter, r *http.Request, err error) {
	var re *RefusedError
	switch {
	case errors.As(err, &re):
		p.refuse(w, redactURL(r.URL), re)
	case errors.Is(err, context.Canceled):
		// the browser went away, or the proxy is closing
	default:
		p.upstreamError(w, err)
	}
}

func (p *Proxy) upstreamError(w http.ResponseWriter, err error) {
	code := http.StatusBadGateway
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		code = http.StatusGatewayTimeout
	}
	http.Error(w, "palyra target guard: "+err.Error(), code)
}

// serveConnect opens a tunnel (https, wss, or anything else the browser tunnels).
func (p *Proxy) serveConnect(w http.ResponseWriter, r *http.Request) {
	target := r.RequestURI
	host, portStr, err := net.SplitHostPort(target)
	if err == nil && strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	port, perr := strconv.ParseUint(portStr, 10, 16)
	if err != nil || perr != nil || strings.Trim(portStr, "0123456789") != "" {
		p.refuse(w, target, &RefusedError{Rule: RuleMalformed, Detail: "CONNECT wants host:port, not " + strconv.Quote(target)})
		return
	}
	h, err := ParseHost(host)
	if err != nil {
		p.refuse(w, target, &RefusedError{Rule: RuleMalformed, Host: host, Detail: err.Error()})
		return
	}
	up, err := p.dial(r.Context(), h, uint16(port))
	if err != nil {
		var re *RefusedError
		if errors.As(err, &re) {
			p.refuse(w, target, re)
		} else {
			p.upstreamError(w, err)
		}
		return
	}
	defer up.Close()
	client, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "palyra target guard: "+err.Error(), http.StatusInternalServerError)
		return
	}
	defer client.Close()
	client.SetDeadline(time.Time{})
	if _, err := io.WriteString(client, "HTTP/1.1 200 Connection Established\r\n\r\n"); err != nil {
		return
	}
	// Bytes the browser sent right behind its CONNECT (a TLS hello) are already buffered.
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		if _, err := up.Write(b); err != nil {
			return
		}
	}
	p.splice(client, up)
}

// dial resolves h once, checks every address, and connects to the first checked address that
// answers. It never resolves again: the address dialled is an address checked.
func (p *Proxy) dial(ctx context.Context, h Host, port uint16) (*upstream, error) {
	pol := p.policy.Load()
	ctx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout)
	defer cancel()
	// The Transport dials detached from the request; Close must still end the dial.
	defer context.AfterFunc(p.ctx, cancel)()
	var addrs []netip.Addr
	switch {
	case h.IsAddr():
		addrs = []netip.Addr{h.Addr}
	case isLocalhost(h.Name):
		addrs = localhostAddrs
	default:
		var err error
		addrs, err = p.resolver.LookupNetIP(ctx, "ip", h.Name)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", h.Name, err)
		}
	}
	if err := pol.CheckResolved(h, addrs); err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if a.Unmap() == p.addr.Addr() && port == p.addr.Port() {
			return nil, &RefusedError{Rule: RuleProxyLoop, Host: h.String(), Addr: a}
		}
	}
	var d net.Dialer
	var errs []error
	for _, a := range addrs {
		c, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(a.Unmap(), port).String())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		u := &upstream{Conn: c, p: p, host: h, addr: a}
		p.mu.Lock()
		closed := p.closed
		if !closed {
			p.upstreams[u] = struct{}{}
		}
		p.mu.Unlock()
		if closed {
			c.Close()
			return nil, net.ErrClosed
		}
		return u, nil
	}
	return nil, errors.Join(errs...)
}

func (p *Proxy) refuse(w http.ResponseWriter, target string, err error) {
	var re *RefusedError
	if !errors.As(err, &re) {
		re = &RefusedError{Rule: RuleMalformed, Detail: err.Error()}
	}
	p.log.Warn("target refused", "target", target, "rule", string(re.Rule), "reason", re.Error())
	if p.cfg.OnRefuse != nil {
		p.cfg.OnRefuse(Refusal{Session: p.cfg.Session, Target: target, Err: re})
	}
	code := http.StatusForbidden
	if re.Rule == RuleMalformed {
		code = http.StatusBadRequest
	}
	w.Header().Set("Connection", "close")
	http.Error(w, "palyra target guard: "+re.Error(), code)
}

// redactURL drops the query and fragment, which may carry tokens, and any credentials.
func redactURL(u *url.URL) string {
	v := *u
	v.User, v.RawQuery, v.ForceQuery, v.Fragment, v.RawFragment = nil, "", false, "", ""
	return v.String()
}

// upstream is a connection the proxy dialled, tracked so that SetPolicy and Close can close it.
type upstream struct {
	net.Conn
	p    *Proxy
	host Host
	addr netip.Addr
	idle time.Duration // for Transport connections: each Read may wait this long
	once sync.Once
}

func (u *upstream) Read(b []byte) (int, error) {
	if u.idle > 0 {
		u.Conn.SetReadDeadline(time.Now().Add(u.idle))
	}
	return u.Conn.Read(b)
}

func (u *upstream) Close() error {
	err := net.ErrClosed
	u.once.Do(func() {
		u.p.mu.Lock()
		delete(u.p.upstreams, u)
		u.p.mu.Unlock()
		err = u.Conn.Close()
	})
	return err
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// splice copies both ways until both sides have finished, one side fails, or nothing has
// moved either way for IdleTimeout. Half-closes are passed on.
func (p *Proxy) splice(client net.Conn, up *upstream) {
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	done := make(chan struct{})
	p.wg.Add(1) // the handler calling splice is tracked, so the count is not zero here
	go func() {
		defer p.wg.Done()
		defer close(done)
		if err := p.copyIdle(up, client, &last); err != nil {
			client.Close()
			up.Close()
		}
	}()
	if err := p.copyIdle(client, up, &last); err != nil {
		client.Close()
		up.Close()
	}
	<-done
}

func (p *Proxy) copyIdle(dst, src net.Conn, last *atomic.Int64) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	idle := p.cfg.IdleTimeout
	for {
		src.SetReadDeadline(time.Now().Add(idle))
		n, err := src.Read(buf)
		if n > 0 {
			now := time.Now()
			last.Store(now.UnixNano())
			dst.SetWriteDeadline(now.Add(idle))
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && time.Since(time.Unix(0, last.Load())) < idle {
			continue // the other direction is busy
		}
		if errors.Is(err, io.EOF) {
			if cw, ok := dst.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
				return nil
			}
		}
		return err
	}
}

func (u *upstream) CloseWrite() error {
	if cw, ok := u.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return u.Conn.Close()
}

// limitListener holds at most cap(sem) accepted connections open at a time.
type limitListener struct {
	net.Listener
	sem  chan struct{}
	done chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: sync.OnceFunc(func() { <-l.sem })}, nil
}

type limitConn struct {
	net.Conn
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}
