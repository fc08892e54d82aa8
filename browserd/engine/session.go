package engine

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// SessionInfo describes a session at one moment.
type SessionInfo struct {
	ID         string
	CreatedAt  time.Time
	LastActive time.Time
	Actions    int // actions taken so far
	Tabs       int
	URL        string // of the active tab
	Proxy      string // the proxy its browser context uses, "" for none
}

// session is one browser context and its tabs. Actions hold actMu, so one runs at a time;
// mu guards the fields that List and the reaper read while an action runs.
type session struct {
	id        string
	browser   *browserProc
	contextID cdp.BrowserContextID
	proxy     string
	dir       string // downloads
	created   time.Time

	// ctx ends when the session ends; every tab derives from it. chromedp keeps its
	// browser and tab handles in contexts, so this one lives as long as the session.
	ctx    context.Context
	cancel context.CancelFunc

	actMu sync.Mutex

	mu         sync.Mutex
	lastActive time.Time
	budget     budget
	tabs       []*tab
	active     int
	url        string
	endErr     error // set once the session ended
	console    *ring[ConsoleEntry]
	network    *ring[NetworkEntry]
	downloads  []Download
	// lastRefusal is when a request of the session was last refused.
	lastRefusal time.Time
}

// Create opens a session: a fresh browser context (cookies, storage and cache of its own)
// with one blank tab, its own download directory and, when the Guard names one, its proxy.
func (e *Engine) Create(ctx context.Context) (SessionInfo, error) {
	e.mu.Lock()
	switch {
	case e.closed:
		e.mu.Unlock()
		return SessionInfo{}, ErrEngineClosed
	case e.browser == nil:
		reason := e.health.Reason
		e.mu.Unlock()
		return SessionInfo{}, fmt.Errorf("%w: %s", ErrUnavailable, reason)
	case len(e.sessions) >= e.cfg.MaxSessions:
		e.mu.Unlock()
		return SessionInfo{}, fmt.Errorf("%w (%d open)", ErrTooManySessions, e.cfg.MaxSessions)
	}
	b := e.browser
	s := &session{
		id:         rand.Text(),
		browser:    b,
		created:    time.Now(),
		lastActive: time.Now(),
		budget:     budget{max: e.cfg.MaxActions, perSecond: e.cfg.ActionsPerSecond},
		console:    newRing[ConsoleEntry](e.cfg.LogEntries),
		network:    newRing[NetworkEntry](e.cfg.LogEntries),
	}
	s.ctx, s.cancel = context.WithCancel(b.ctx) // before anyone can see s: endSession reads them
	// Reserve the slot now so concurrent Creates cannot pass MaxSessions; the session is
	// not usable until setup finishes (actMu is held).
	s.actMu.Lock()
	e.sessions[s.id] = s
	e.mu.Unlock()

	err := e.setupSession(ctx, s)
	s.actMu.Unlock()
	if err != nil {
		e.endSession(s, err)
		e.mu.Lock()
		delete(e.sessions, s.id)
		e.ended.forget(s.id)
		e.mu.Unlock()
		return SessionInfo{}, fmt.Errorf("create session: %w", err)
	}
	e.log.Debug("session created", "session", s.id, "context", s.contextID)
	return s.info(), nil
}

func (e *Engine) setupSession(ctx context.Context, s *session) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.NavigateTimeout)
	defer cancel()
	if e.cfg.Guard != nil {
		proxy := e.cfg.Guard.ProxyFor(s.id)
		s.mu.Lock() // List may describe the session while it is set up
		s.proxy = proxy
		s.mu.Unlock()
	}
	stopAfter := context.AfterFunc(ctx, s.cancel)
	defer stopAfter()

	res, err := chromedp.CallBrowser(s.ctx, target.CreateBrowserContext, target.CreateBrowserContextParams{
		DisposeOnDetach: new(true),
		ProxyServer:     s.proxy,
		ProxyBypassList: proxyBypass(s.proxy),
	})
	if err != nil {
		return fmt.Errorf("new browser context: %w", err)
	}
	s.contextID = res.BrowserContextID

	s.dir = filepath.Join(e.cfg.DownloadDir, s.id)
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("download dir: %w", err)
	}
	if _, err := chromedp.CallBrowser(s.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior:         browser.SetDownloadBehaviorBehaviorAllowAndName,
		BrowserContextID: s.contextID,
		DownloadPath:     s.dir,
		EventsEnabled:    new(true),
	}); err != nil {
		return fmt.Errorf("download behaviour: %w", err)
	}
	t, err := e.openTab(s, "")
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.tabs = []*tab{t}
	s.mu.Unlock()
	return nil
}

// proxyBypass keeps Chromium's implicit loopback bypass off when a proxy is set, so that
// loopback targets go through the proxy's checks too.
func proxyBypass(proxy string) string {
	if proxy == "" {
		return ""
	}
	return "<-loopback>"
}

// List returns the open sessions, most recently active first.
func (e *Engine) List() []SessionInfo {
	e.mu.Lock()
	all := make([]*session, 0, len(e.sessions))
	for _, s := range e.sessions {
		all = append(all, s)
	}
	e.mu.Unlock()
	infos := make([]SessionInfo, 0, len(all))
	for _, s := range all {
		if s.ended() == nil {
			infos = append(infos, s.info())
		}
	}
	slices.SortFunc(infos, func(a, b SessionInfo) int { return b.LastActive.Compare(a.LastActive) })
	return infos
}

// Get describes one session; an ended one gives the reason it ended.
func (e *Engine) Get(id string) (SessionInfo, error) {
	s, err := e.lookup(id)
	if err != nil {
		return SessionInfo{}, err
	}
	return s.info(), nil
}

// CloseSession ends a session and disposes of its browser context and downloads.
func (e *Engine) CloseSession(id string) error {
	s, err := e.lookup(id)
	if err != nil {
		return err
	}
	e.endSession(s, fmt.Errorf("%w: closed", ErrSessionEnded))
	return nil
}

// lookup finds an open session, or says why it is gone.
func (e *Engine) lookup(id string) (*session, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s, ok := e.sessions[id]; ok {
		if err := s.ended(); err != nil {
			return nil, endedError{err}
		}
		return s, nil
	}
	if err := e.ended.get(id); err != nil {
		return nil, endedError{err}
	}
	return nil, fmt.Errorf("%w: %q", ErrSessionNotFound, id)
}

// endedError is why a session ended, as calls on it see it: whatever ended it (expiry, a
// crash, a refused address), errors.Is(err, ErrSessionEnded) holds.
type endedError struct{ why error }

func (e endedError) Error() string        { return e.why.Error() }
func (e endedError) Unwrap() error        { return e.why }
func (e endedError) Is(target error) bool { return target == ErrSessionEnded }

// endSession ends s with why: in-flight actions are cancelled, the browser context is
// disposed, downloads are removed, and later calls on its id get why.
func (e *Engine) endSession(s *session, why error) {
	s.mu.Lock()
	if s.endErr != nil {
		s.mu.Unlock()
		return
	}
	s.endErr = why
	s.mu.Unlock()
	s.cancel() // stops any action in flight, so actMu comes free
	s.actMu.Lock()
	defer s.actMu.Unlock()

	e.mu.Lock()
	delete(e.sessions, s.id)
	e.ended.put(s.id, why)
	e.mu.Unlock()

	s.mu.Lock()
	tabs := s.tabs
	s.tabs = nil
	s.mu.Unlock()
	for _, t := range tabs {
		t.close()
	}
	if s.contextID != "" {
		// The session's context is cancelled; dispose from the browser's, briefly. A dead
		// browser disposes of everything itself.
		ctx, cancel := context.WithTimeout(s.browser.ctx, 2*time.Second)
		_, err := chromedp.CallBrowser(ctx, target.DisposeBrowserContext, target.DisposeBrowserContextParams{BrowserContextID: s.contextID})
		cancel()
		if err != nil && s.browser.ctx.Err() == nil {
			e.log.Warn("dispose browser context", "session", s.id, "err", err)
		}
	}
	e.framesMu.Lock()
	for id, owner := range e.frames {
		if owner == s {
			delete(e.frames, id)
		}
	}
	e.framesMu.Unlock()
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
	e.log.Debug("session ended", "session", s.id, "why", why)
}

func (s *session) ended() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.endErr
}

func (s *session) info() SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SessionInfo{
		ID: s.id, CreatedAt: s.created, LastActive: s.lastActive,
		Actions: s.budget.used, Tabs: len(s.tabs), URL: s.url, Proxy: s.proxy,
	}
}

// reapLoop ends sessions idle longer than IdleTTL or older than Lifetime.
func (e *Engine) reapLoop() {
	tick := time.NewTicker(e.cfg.ReapInterval)
	defer tick.Stop()
	for {
		select {
		case <-e.life.Done():
			return
		case now := <-tick.C:
			e.reap(now)
		}
	}
}

func (e *Engine) reap(now time.Time) {
	e.mu.Lock()
	var expired []*session
	var whys []error
	for _, s := range e.sessions {
		s.mu.Lock()
		idle, age := now.Sub(s.lastActive), now.Sub(s.created)
		s.mu.Unlock()
		switch {
		case age > e.cfg.Lifetime:
			expired, whys = append(expired, s), append(whys, fmt.Errorf("%w: older than its lifetime of %s", ErrExpired, e.cfg.Lifetime))
		case idle > e.cfg.IdleTTL:
			expired, whys = append(expired, s), append(whys, fmt.Errorf("%w: idle for more than %s", ErrExpired, e.cfg.IdleTTL))
		}
	}
	e.mu.Unlock()
	for i, s := range expired {
		// A session mid-action is busy, not idle: leave it for the next pass.
		if !s.actMu.TryLock() {
			continue
		}
		s.actMu.Unlock()
		e.endSession(s, whys[i])
	}
}

// tombstones remember why recently ended sessions ended, so a caller gets "chromium
// exited unexpectedly" rather than "not found". Oldest forgotten first.
type tombstones struct {
	max   int
	order []string
	why   map[string]error
}

func newTombstones(max int) *tombstones { return &tombstones{max: max, why: map[string]error{}} }

func (t *tombstones) put(id string, why error) {
	if _, ok := t.why[id]; !ok {
		t.order = append(t.order, id)
	}
	t.why[id] = why
	for len(t.order) > t.max {
		delete(t.why, t.order[0])
		t.order = t.order[1:]
	}
}

func (t *tombstones) get(id string) error { return t.why[id] }

func (t *tombstones) forget(id string) {
	delete(t.why, id)
	t.order = slices.DeleteFunc(t.order, func(s string) bool { return s == id })
}
