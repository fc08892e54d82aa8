package engine

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// maxFrames bounds the subframes remembered for filing downloads; past it, a subframe's
// download is not filed and not limited (it still lands in its session's directory).
const maxFrames = 1 << 14

// tab is one page target of a session.
type tab struct {
	id     target.ID
	ctx    context.Context
	cancel context.CancelFunc

	mu   sync.Mutex // guards book; the event loop and nothing else uses it
	book requestBook
}

// openTab attaches to targetID, or creates a blank tab in the session's browser context
// when targetID is "", and sets it up: viewport, request checks, logs.
func (e *Engine) openTab(s *session, targetID target.ID) (*tab, error) {
	t := &tab{}
	opts := []chromedp.ContextOption{chromedp.WithListener(func(ev any) { e.onEvent(s, t, ev) })}
	if targetID != "" {
		opts = append(opts, chromedp.WithTargetID(targetID))
	} else {
		opts = append(opts, chromedp.WithExistingBrowserContext(s.contextID))
	}
	t.ctx, t.cancel = chromedp.NewContext(s.ctx, opts...)
	// The first Do creates the target and binds it to t.ctx: no deadline on it.
	if err := chromedp.Do(t.ctx); err != nil {
		t.cancel()
		return nil, fmt.Errorf("open tab: %w", err)
	}
	t.id = chromedp.FromContext(t.ctx).Target.TargetID
	if _, err := chromedp.Call(t.ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
		Width: int64(e.cfg.ViewportWidth), Height: int64(e.cfg.ViewportHeight), DeviceScaleFactor: 1,
	}); err != nil {
		t.cancel()
		return nil, fmt.Errorf("set viewport: %w", err)
	}
	if e.cfg.Guard != nil {
		if err := e.guardRequests(s, t); err != nil {
			t.cancel()
			return nil, err
		}
	}
	return t, nil
}

// close closes the tab's target.
func (t *tab) close() { t.cancel() }

// onEvent runs in the tab's event loop for every event: it must return fast and send no
// command.
func (e *Engine) onEvent(s *session, t *tab, ev any) {
	if c, ok := consoleEntry(ev); ok {
		s.logConsole(c)
		return
	}
	now := time.Now()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		if ev.Request == nil {
			return
		}
		t.mu.Lock()
		t.book.add(ev.RequestID, NetworkEntry{Method: ev.Request.Method, URL: ev.Request.URL, Type: string(ev.Type)})
		t.mu.Unlock()
	case *network.EventResponseReceived:
		t.mu.Lock()
		n := t.book.take(ev.RequestID)
		t.mu.Unlock()
		if r := ev.Response; r != nil {
			n.URL, n.Status, n.MIMEType, n.RemoteAddr = r.URL, int(r.Status), r.MimeType, r.RemoteIPAddress
			if r.RemoteIPAddress != "" && r.RemotePort > 0 {
				n.RemoteAddr = r.RemoteIPAddress + ":" + strconv.FormatInt(r.RemotePort, 10)
			}
		}
		n.Time, n.Type = now, string(ev.Type)
		s.logNetwork(n)
		e.checkRemote(s, ev)
	case *network.EventWebSocketCreated:
		if e.cfg.Guard != nil {
			go e.checkWebSocket(s, ev.URL) // a check may resolve DNS: not in the event loop
		}
	case *network.EventLoadingFailed:
		t.mu.Lock()
		n := t.book.take(ev.RequestID)
		t.mu.Unlock()
		if ev.ErrorText == "net::ERR_BLOCKED_BY_CLIENT" && e.cfg.Guard != nil {
			return // the refusal is logged where it was decided, with its reason
		}
		n.Time, n.Type, n.Error = now, string(ev.Type), ev.ErrorText
		s.logNetwork(n)
	case *page.EventFrameAttached:
		e.framesMu.Lock()
		if len(e.frames) < maxFrames {
			e.frames[ev.FrameID] = s
		}
		e.framesMu.Unlock()
	case *page.EventFrameNavigated:
		if ev.Frame != nil && ev.Frame.ParentID == "" {
			s.mu.Lock()
			if s.activeTab() == t {
				s.url = ev.Frame.URL
			}
			s.mu.Unlock()
		}
	}
}

// activeTab is the tab actions run in; s.mu held.
func (s *session) activeTab() *tab {
	if s.active < 0 || s.active >= len(s.tabs) {
		return nil
	}
	return s.tabs[s.active]
}
