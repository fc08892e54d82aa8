package browserd

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"

	"github.com/palyra/palyra/browserd/engine"
	"github.com/palyra/palyra/browserd/netguard"
)

// guard is the engine's target policy over netguard: every session gets a pinning proxy of
// its own, made when the engine asks ProxyFor, and its policy is the proxy's. A session
// starts public-only; allowPrivate opens the private ranges for it. Proxies of sessions that
// ended are closed by release (CloseSession) or by reap (expiry, crash, refusal).
type guard struct {
	log *slog.Logger

	// deadEnd is a loopback port of ours that takes connections and closes them: the proxy
	// of a session whose own proxy could not be made, so nothing of it reaches anywhere
	// (a fixed port could be some other program's).
	deadEnd net.Listener
	// onRefuse hears of each target a session's proxy refused (the engine's NoteRefusal),
	// resolver is the proxies' (nil: the system's). Both are set before the first session.
	onRefuse func(netguard.Refusal)
	resolver netguard.Resolver

	mu       sync.Mutex
	sessions map[string]*netguard.Proxy
	failed   map[string]error // sessions whose proxy could not be made
	closed   bool
}

var _ engine.Guard = (*guard)(nil)

func newGuard(log *slog.Logger) (*guard, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("target guard: %w", err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed
			}
			c.Close()
		}
	}()
	return &guard{log: log, deadEnd: ln, sessions: map[string]*netguard.Proxy{}, failed: map[string]error{}}, nil
}

// ProxyFor makes the session's proxy. It runs inside engine.Create, before the session's
// first tab exists, so no request of the session passes without it.
func (g *guard) ProxyFor(id string) string {
	p, err := netguard.NewProxy(netguard.ProxyConfig{
		Session: id,
		OnRefuse: func(r netguard.Refusal) {
			if g.onRefuse != nil {
				g.onRefuse(r)
			}
		},
		Resolver: g.resolver,
		Logger:   g.log,
	})
	g.mu.Lock()
	defer g.mu.Unlock()
	if err == nil && g.closed {
		p.Close()
		err = fmt.Errorf("shutting down")
	}
	if err != nil {
		g.failed[id] = err
		// No proxy: a dead end, so nothing goes around the checks before Create's caller
		// ends the session.
		return "http://" + g.deadEnd.Addr().String()
	}
	g.sessions[id] = p
	return p.URL()
}

// ready says whether the session got its proxy; a session without one must be closed.
func (g *guard) ready(id string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err, ok := g.failed[id]; ok {
		delete(g.failed, id)
		return fmt.Errorf("target guard for the session: %w", err)
	}
	if g.sessions[id] == nil {
		return fmt.Errorf("target guard for the session: no proxy")
	}
	return nil
}

func (g *guard) policy(id string) netguard.Policy {
	g.mu.Lock()
	p := g.sessions[id]
	g.mu.Unlock()
	if p == nil {
		return netguard.Policy{} // public only
	}
	return p.Policy()
}

// CheckURL checks a request of the session against its policy.
func (g *guard) CheckURL(id, rawURL string) error {
	_, err := g.policy(id).CheckURL(rawURL)
	return err
}

// CheckAddr checks a response's remote address against the session's policy.
func (g *guard) CheckAddr(id string, ip netip.Addr) error {
	return g.policy(id).CheckAddr(ip)
}

// allowPrivate opens private targets (loopback, RFC 1918, link-local, …) to the session.
func (g *guard) allowPrivate(id string) {
	g.mu.Lock()
	p := g.sessions[id]
	g.mu.Unlock()
	if p != nil {
		p.SetPolicy(netguard.Policy{Allow: netguard.PrivateKinds})
	}
}

func (g *guard) private(id string) bool {
	return g.policy(id).Allow&netguard.Private != 0
}

// release closes the session's proxy.
func (g *guard) release(id string) {
	g.mu.Lock()
	p := g.sessions[id]
	delete(g.sessions, id)
	delete(g.failed, id)
	g.mu.Unlock()
	if p != nil {
		p.Close()
	}
}

// reap closes the proxies of sessions that are no longer open. list is engine.List; it is
// called after the proxies are looked at, so a session being created (already listed by
// the engine when its proxy is made) is never taken for an ended one.
func (g *guard) reap(list func() []engine.SessionInfo) {
	g.mu.Lock()
	ids := make([]string, 0, len(g.sessions))
	for id := range g.sessions {
		ids = append(ids, id)
	}
	failed := make([]string, 0, len(g.failed))
	for id := range g.failed {
		failed = append(failed, id)
	}
	g.mu.Unlock()
	if len(ids) == 0 && len(failed) == 0 {
		return
	}
	open := map[string]bool{}
	for _, s := range list() {
		open[s.ID] = true
	}
	for _, id := range ids {
		if !open[id] {
			g.release(id)
		}
	}
	g.mu.Lock()
	for _, id := range failed {
		if !open[id] { // its Create failed and never asked ready
			delete(g.failed, id)
		}
	}
	g.mu.Unlock()
}

// closeAll closes every proxy; later ProxyFor calls fail.
func (g *guard) closeAll() {
	g.deadEnd.Close()
	g.mu.Lock()
	g.closed = true
	all := g.sessions
	g.sessions = map[string]*netguard.Proxy{}
	g.mu.Unlock()
	for _, p := range all {
		p.Close()
	}
}

func (g *guard) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.sessions)
}
