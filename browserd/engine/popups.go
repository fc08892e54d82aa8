package engine

import (
	"context"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// watchPopups attaches every page a session's page opens (window.open, target=_blank) as
// soon as Chromium reports it, so that its requests are checked and it shows in Tabs. The
// popup's first request can start before the attach finishes; only the proxy covers that.
// A popup past MaxTabs is closed.
func (e *Engine) watchPopups(b *browserProc) {
	for ev, err := range chromedp.BrowserEvents(b.ctx, target.TargetCreated) {
		if err != nil {
			return
		}
		info := ev.TargetInfo
		if info == nil || info.Type != "page" || info.OpenerID == "" {
			continue
		}
		s := e.sessionOfContext(info.BrowserContextID)
		if s == nil {
			continue
		}
		go e.adoptPopup(b, s, info.TargetID)
	}
}

func (e *Engine) adoptPopup(b *browserProc, s *session, id target.ID) {
	s.mu.Lock()
	full := len(s.tabs) >= e.cfg.MaxTabs
	s.mu.Unlock()
	if full {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		chromedp.CallBrowser(ctx, target.CloseTarget, target.CloseTargetParams{TargetID: id})
		cancel()
		s.logConsole(ConsoleEntry{Time: time.Now(), Level: "warning", Text: "a popup was closed: the session has its most tabs"})
		return
	}
	t, err := e.openTab(s, id)
	if err != nil {
		return // it closed already, or the session ended
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.endErr != nil {
		go t.close()
		return
	}
	s.tabs = append(s.tabs, t)
}

// sessionOfContext finds the open session that owns a browser context.
func (e *Engine) sessionOfContext(id cdp.BrowserContextID) *session {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.sessions {
		if s.contextID == id {
			return s
		}
	}
	return nil
}
