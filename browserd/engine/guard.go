package engine

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Guard is the target policy the engine enforces; browserd's netguard implements it. A nil
// Guard allows everything (tests only).
type Guard interface {
	// CheckURL reports why the session may not request rawURL, or nil. It sees every
	// request a page makes (navigations, redirects, subresources), before it is sent.
	CheckURL(sessionID, rawURL string) error
	// CheckAddr reports why the session may not talk to ip, or nil. It sees the remote
	// address of every response. A session that gets a refused address is ended, as
	// its page has already talked to it. Not called for sessions behind a proxy, whose
	// remote address is the proxy's; the proxy checks the address it dials itself.
	CheckAddr(sessionID string, ip netip.Addr) error
	// ProxyFor names the proxy the session's browser context must use
	// ("http://127.0.0.1:port"), or "" for a direct connection.
	ProxyFor(sessionID string) string
}

// maxGuardChecks bounds a tab's concurrent URL checks (a check may resolve DNS).
const maxGuardChecks = 8

// guardRequests pauses every request of the tab (Fetch.enable with a catch-all pattern),
// asks the Guard, and continues it or fails it as BlockedByClient, logging the refusal.
func (e *Engine) guardRequests(s *session, t *tab) error {
	paused := chromedp.Events(t.ctx, fetch.RequestPaused) // subscribed from here on
	sem := make(chan struct{}, maxGuardChecks)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			sem <- struct{}{}
			go func() {
				defer func() { <-sem }()
				e.decide(s, t, ev)
			}()
		}
	}()
	_, err := chromedp.Call(t.ctx, fetch.Enable, fetch.EnableParams{
		Patterns: []*fetch.RequestPattern{{URLPattern: "*", RequestStage: fetch.RequestStageRequest}},
	})
	if err != nil {
		return fmt.Errorf("enable request checks: %w", err)
	}
	return nil
}

func (e *Engine) decide(s *session, t *tab, ev fetch.EventRequestPaused) {
	url := ev.Request.URL + ev.Request.URLFragment
	ctx, cancel := context.WithTimeout(t.ctx, 10*time.Second)
	defer cancel()
	if err := e.cfg.Guard.CheckURL(s.id, url); err != nil {
		s.logNetwork(NetworkEntry{
			Time: time.Now(), Method: ev.Request.Method, URL: url, Type: string(ev.ResourceType),
			Error: fmt.Sprintf("%v: %v", ErrRefused, err), Refused: true,
		})
		e.log.Info("request refused", "session", s.id, "url", url, "err", err)
		chromedp.Call(ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonBlockedByClient})
		return
	}
	chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
}

// checkRemote checks a response's remote address; a refusal ends the session. It runs in
// the tab's event loop, so it only starts the ending.
func (e *Engine) checkRemote(s *session, ev *network.EventResponseReceived) {
	if e.cfg.Guard == nil || s.proxy != "" || ev.Response == nil || ev.Response.RemoteIPAddress == "" {
		return
	}
	ip, err := netip.ParseAddr(trimBrackets(ev.Response.RemoteIPAddress))
	if err != nil {
		return
	}
	if err := e.cfg.Guard.CheckAddr(s.id, ip.Unmap()); err != nil {
		why := fmt.Errorf("%w: %s answered from %s: %v; the session ended", ErrRefused, clip(ev.Response.URL, 256), ip, err)
		s.logNetwork(NetworkEntry{Time: time.Now(), URL: ev.Response.URL, RemoteAddr: ip.String(), Error: why.Error(), Refused: true})
		e.log.Warn("response from a refused address", "session", s.id, "url", ev.Response.URL, "addr", ip, "err", err)
		go e.endSession(s, why)
	}
}

func trimBrackets(s string) string {
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		return s[1 : len(s)-1]
	}
	return s
}

// checkWebSocket asks the Guard about a WebSocket the page opened. The Fetch domain does
// not pause WebSockets, so a refusal cannot block this one: it ends the session, as a
// refused remote address does (the proxy, when there is one, blocks the connection itself).
func (e *Engine) checkWebSocket(s *session, rawURL string) {
	err := e.cfg.Guard.CheckURL(s.id, rawURL)
	if err == nil {
		return
	}
	why := fmt.Errorf("%w: the page opened a WebSocket to %s: %v; the session ended", ErrRefused, clip(redactURL(rawURL), 256), err)
	s.logNetwork(NetworkEntry{Time: time.Now(), Method: "GET", URL: rawURL, Type: "WebSocket", Error: why.Error(), Refused: true})
	e.log.Warn("websocket refused", "session", s.id, "url", redactURL(rawURL), "err", err)
	e.endSession(s, why)
}
