package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/chromedp/cdproto/cdp/jsonv2"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// maxTitleBytes bounds a page title.
const maxTitleBytes = 4 << 10

// act runs one action on a session's active tab: it spends budget, bounds the time by
// timeout (and ctx), keeps the session alive, and turns failures into clear errors.
func (e *Engine) act(ctx context.Context, id, name string, timeout time.Duration, fn func(ctx context.Context, s *session, t *tab) error) error {
	s, err := e.lookup(id)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	s.actMu.Lock()
	defer s.actMu.Unlock()
	now := time.Now()
	s.mu.Lock()
	t := s.activeTab()
	if s.endErr != nil {
		err = endedError{s.endErr}
	}
	if err == nil && t == nil {
		err = fmt.Errorf("%w: no tab", ErrSessionEnded)
	}
	if err == nil {
		err = s.budget.take(now)
	}
	s.lastActive = now
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}

	actx, cancel := context.WithTimeout(t.ctx, timeout)
	defer cancel()
	defer context.AfterFunc(ctx, cancel)()
	err = fn(actx, s, t)

	s.mu.Lock()
	s.lastActive = time.Now()
	s.mu.Unlock()
	if err == nil {
		return nil
	}
	switch {
	case s.browser.ctx.Err() != nil && e.life.Err() == nil:
		return fmt.Errorf("%s: %w; the session ended", name, ErrBrowserCrashed)
	case s.ended() != nil:
		return fmt.Errorf("%s: %w", name, endedError{s.ended()})
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w: %w", name, ctx.Err(), err)
	case errors.Is(actx.Err(), context.DeadlineExceeded) && !errors.Is(err, ErrRefused):
		return fmt.Errorf("%s: %w after %s: %w", name, ErrTimeout, timeout, err)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// NavResult is where a navigation ended.
type NavResult struct {
	URL    string
	Status int // of the main document; 0 for about: and data: URLs
	Title  string
}

// Navigate loads rawURL in the active tab and waits for its load event.
func (e *Engine) Navigate(ctx context.Context, id, rawURL string) (NavResult, error) {
	var res NavResult
	err := e.act(ctx, id, "navigate", e.cfg.NavigateTimeout, func(ctx context.Context, s *session, t *tab) error {
		u, err := url.Parse(rawURL)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		switch u.Scheme {
		case "http", "https", "data":
		case "about":
			if rawURL != "about:blank" {
				return fmt.Errorf("%w: only about:blank", ErrInvalid)
			}
		default:
			return fmt.Errorf("%w: scheme %q; only http, https, data and about:blank", ErrInvalid, u.Scheme)
		}
		if g := e.cfg.Guard; g != nil && u.Scheme != "about" && u.Scheme != "data" {
			if err := g.CheckURL(s.id, rawURL); err != nil {
				s.logNetwork(NetworkEntry{Time: time.Now(), Method: "GET", URL: rawURL, Type: "Document", Error: fmt.Sprintf("%v: %v", ErrRefused, err), Refused: true})
				return fmt.Errorf("%w: %v", ErrRefused, err)
			}
		}
		started := time.Now()
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(rawURL))
		if err != nil {
			var le *chromedp.LoadError
			if errors.As(err, &le) && le.ErrorText == "net::ERR_BLOCKED_BY_CLIENT" || s.refusedSince(started) {
				return fmt.Errorf("%w: a redirect or the page itself was refused (see the network log)", ErrRefused)
			}
			if le != nil {
				return fmt.Errorf("%w: %s", ErrLoad, le.ErrorText)
			}
			return err
		}
		if resp != nil && resp.Status == http.StatusForbidden && s.refusedSince(started) {
			return fmt.Errorf("%w: the session's proxy refused the target (see the network log)", ErrRefused)
		}
		if resp != nil {
			res.Status = int(resp.Status)
		}
		res.URL, _ = evalValue[string](ctx, "location.href")
		res.Title, _ = evalValue[string](ctx, "document.title")
		res.Title = clip(res.Title, maxTitleBytes)
		return nil
	})
	return res, err
}

// Click clicks the middle of the element sel names (a CSS selector, or a Snapshot ref
// written "ref=e12"), scrolling it into view first; it waits for the element to appear.
func (e *Engine) Click(ctx context.Context, id, sel string) error {
	return e.act(ctx, id, "click", e.cfg.ActionTimeout, func(ctx context.Context, s *session, t *tab) error {
		obj, err := resolve(ctx, sel)
		if err != nil {
			return err
		}
		defer release(t.ctx)
		x, y, err := center(ctx, obj)
		if err != nil {
			return fmt.Errorf("%s: %w", sel, err)
		}
		return chromedp.Do(ctx, chromedp.MouseClickXY(x, y))
	})
}

// Type focuses the element sel names and types text into it key by key; clear empties
// it first.
func (e *Engine) Type(ctx context.Context, id, sel, text string, clear bool) error {
	return e.act(ctx, id, "type", e.cfg.ActionTimeout, func(ctx context.Context, s *session, t *tab) error {
		if len(text) > e.cfg.MaxTypeBytes {
			return fmt.Errorf("%w: %d bytes of text, the limit is %d", ErrTooLarge, len(text), e.cfg.MaxTypeBytes)
		}
		obj, err := resolve(ctx, sel)
		if err != nil {
			return err
		}
		defer release(t.ctx)
		ok, err := callOn[bool](ctx, obj, `function(clear) {
			const typable = this instanceof HTMLInputElement || this instanceof HTMLTextAreaElement || this.isContentEditable;
			if (!typable) return false;
			this.focus();
			if (clear) {
				if ('value' in this) { this.value = ''; this.dispatchEvent(new Event('input', {bubbles: true})); }
				else this.textContent = '';
			}
			return true;
		}`, clear)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: %s is not a text field", ErrInvalid, sel)
		}
		return chromedp.Do(ctx, chromedp.KeyEvent(text))
	})
}

// keyNames are the named keys Press knows; any single character is a key too.
var keyNames = map[string]string{
	"enter": kb.Enter, "return": kb.Enter, "tab": kb.Tab, "escape": kb.Escape, "esc": kb.Escape,
	"backspace": kb.Backspace, "delete": kb.Delete, "space": " ",
	"arrowup": kb.ArrowUp, "up": kb.ArrowUp, "arrowdown": kb.ArrowDown, "down": kb.ArrowDown,
	"arrowleft": kb.ArrowLeft, "left": kb.ArrowLeft, "arrowright": kb.ArrowRight, "right": kb.ArrowRight,
	"home": kb.Home, "end": kb.End, "pageup": kb.PageUp, "pagedown": kb.PageDown, "insert": kb.Insert,
}

// parseKey reads "Mod+Mod+Key" (modifiers alt, ctrl|control, meta|cmd|command, shift).
func parseKey(spec string) (string, []chromedp.Modifier, error) {
	parts := strings.Split(spec, "+")
	if spec == "+" {
		parts = []string{"+"}
	}
	var mods []chromedp.Modifier
	for _, m := range parts[:len(parts)-1] {
		switch strings.ToLower(strings.TrimSpace(m)) {
		case "alt":
			mods = append(mods, chromedp.ModifierAlt)
		case "ctrl", "control":
			mods = append(mods, chromedp.ModifierCtrl)
		case "meta", "cmd", "command":
			mods = append(mods, chromedp.ModifierMeta)
		case "shift":
			mods = append(mods, chromedp.ModifierShift)
		default:
			return "", nil, fmt.Errorf("%w: unknown modifier %q in key %q", ErrInvalid, m, spec)
		}
	}
	key := parts[len(parts)-1]
	if k, ok := keyNames[strings.ToLower(key)]; ok {
		return k, mods, nil
	}
	if len([]rune(key)) != 1 {
		return "", nil, fmt.Errorf("%w: unknown key %q", ErrInvalid, key)
	}
	return key, mods, nil
}

// Press sends one key, with modifiers ("Enter", "Ctrl+A", "Shift+Tab"), to the focused
// element.
func (e *Engine) Press(ctx context.Context, id, key string) error {
	k, mods, err := parseKey(key)
	if err != nil {
		return fmt.Errorf("press: %w", err)
	}
	return e.act(ctx, id, "press", e.cfg.ActionTimeout, func(ctx context.Context, s *session, t *tab) error {
		return chromedp.Do(ctx, chromedp.KeyEvent(k, chromedp.KeyModifiers(mods...)))
	})
}

// Select chooses the option of the <select> sel names whose value (or else text) is value,
// and fires input and change as a user's choice would.
func (e *Engine) Select(ctx context.Context, id, sel, value string) error {
	return e.act(ctx, id, "select", e.cfg.ActionTimeout, func(ctx context.Context, s *session, t *tab) error {
		obj, err := resolve(ctx, sel)
		if err != nil {
			return err
		}
		defer release(t.ctx)
		outcome, err := callOn[string](ctx, obj, `function(v) {
			if (!(this instanceof HTMLSelectElement)) return 'not a <select>';
			if (this.disabled) return 'disabled';
			const opts = Array.from(this.options);
			const o = opts.find(o => o.value === v) || opts.find(o => o.text.trim() === v);
			if (!o) return 'has no option ' + JSON.stringify(v);
			this.value = o.value;
			this.dispatchEvent(new Event('input', {bubbles: true}));
			this.dispatchEvent(new Event('change', {bubbles: true}));
			return '';
		}`, value)
		if err != nil {
			return err
		}
		if outcome != "" {
			return fmt.Errorf("%w: %s %s", ErrInvalid, sel, outcome)
		}
		return nil
	})
}

// Scroll scrolls the page by (dx, dy) CSS pixels and returns where it is now.
func (e *Engine) Scroll(ctx context.Context, id string, dx, dy int) (x, y int, err error) {
	err = e.act(ctx, id, "scroll", e.cfg.ActionTimeout, func(ctx context.Context, s *session, t *tab) error {
		pos, err := evalValue[[2]float64](ctx, fmt.Sprintf("window.scrollBy(%d, %d), [window.scrollX, window.scrollY]", dx, dy))
		x, y = int(pos[0]), int(pos[1])
		return err
	})
	return x, y, err
}

// Wait is what WaitFor waits for: an element matching Selector, or Text in the page's
// visible text. Timeout 0 means the action timeout; it is capped at the navigation timeout.
type Wait struct {
	Selector string
	Text     string
	Timeout  time.Duration
}

// WaitFor waits until w is met.
func (e *Engine) WaitFor(ctx context.Context, id string, w Wait) error {
	if (w.Selector == "") == (w.Text == "") {
		return fmt.Errorf("wait for: %w: give a selector or a text", ErrInvalid)
	}
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = e.cfg.ActionTimeout
	}
	timeout = min(timeout, e.cfg.NavigateTimeout)
	return e.act(ctx, id, "wait for", timeout, func(ctx context.Context, s *session, t *tab) error {
		if w.Selector != "" {
			_, err := resolve(ctx, w.Selector)
			release(t.ctx)
			return err
		}
		expr := "document.body ? document.body.innerText.includes(" + jsString(w.Text) + ") : false"
		return poll(ctx, func() (bool, error) { return evalValue[bool](ctx, expr) }, fmt.Sprintf("text %q", w.Text))
	})
}

// Title returns the active tab's title.
func (e *Engine) Title(ctx context.Context, id string) (string, error) {
	var title string
	err := e.act(ctx, id, "title", e.cfg.ActionTimeout, func(ctx context.Context, s *session, t *tab) error {
		v, err := evalValue[string](ctx, "document.title")
		title = clip(v, maxTitleBytes)
		return err
	})
	return title, err
}

// Text returns the page's visible text (innerText of the body), at most MaxTextBytes;
// truncated says it was cut.
func (e *Engine) Text(ctx context.Context, id string) (text string, truncated bool, err error) {
	err = e.act(ctx, id, "text", e.cfg.ActionTimeout, func(ctx context.Context, s *session, t *tab) error {
		v, err := evalValue[string](ctx, "document.body ? document.body.innerText : ''")
		if err != nil {
			return err
		}
		text = clip(v, e.cfg.MaxTextBytes)
		truncated = len(v) > e.cfg.MaxTextBytes
		return nil
	})
	return text, truncated, err
}

// Screenshot returns a PNG of the active tab's viewport. A PNG over MaxScreenshotBytes is
// an error.
func (e *Engine) Screenshot(ctx context.Context, id string) ([]byte, error) {
	var png []byte
	err := e.act(ctx, id, "screenshot", e.cfg.ActionTimeout, func(ctx context.Context, s *session, t *tab) error {
		res, err := chromedp.Call(ctx, page.CaptureScreenshot, page.CaptureScreenshotParams{Format: page.CaptureScreenshotFormatPng})
		if err != nil {
			return err
		}
		if len(res.Data) > e.cfg.MaxScreenshotBytes {
			return fmt.Errorf("%w: the PNG has %d bytes, the limit is %d", ErrTooLarge, len(res.Data), e.cfg.MaxScreenshotBytes)
		}
		png = res.Data
		return nil
	})
	return png, err
}

// objectGroup holds the page objects one action resolves; release frees them.
const objectGroup = "palyra-action"

func release(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	chromedp.Call(ctx, runtime.ReleaseObjectGroup, runtime.ReleaseObjectGroupParams{ObjectGroup: objectGroup})
}

// resolve finds the element sel names, waiting for it until ctx ends.
func resolve(ctx context.Context, sel string) (runtime.RemoteObjectID, error) {
	sel = strings.TrimSpace(sel)
	if sel == "" {
		return "", fmt.Errorf("%w: empty selector", ErrInvalid)
	}
	if ref, ok := parseRef(sel); ok {
		n, err := chromedp.Call(ctx, dom.ResolveNode, dom.ResolveNodeParams{BackendNodeID: ref, ObjectGroup: objectGroup})
		if err != nil || n.Object == nil {
			return "", fmt.Errorf("%w: %s is gone from the page; take a new snapshot", ErrNotFound, sel)
		}
		return n.Object.ObjectID, nil
	}
	var id runtime.RemoteObjectID
	err := poll(ctx, func() (bool, error) {
		res, err := chromedp.Call(ctx, runtime.Evaluate, runtime.EvaluateParams{
			Expression: "document.querySelector(" + jsString(sel) + ")", ObjectGroup: objectGroup,
		})
		if err != nil {
			return false, err
		}
		if res.ExceptionDetails != nil {
			return false, fmt.Errorf("%w: selector %q: %s", ErrInvalid, sel, exceptionText(res.ExceptionDetails))
		}
		if res.Result == nil || res.Result.ObjectID == "" {
			return false, nil
		}
		id = res.Result.ObjectID
		return true, nil
	}, "selector "+sel)
	return id, err
}

// poll calls try every 50ms until it reports done, fails, or ctx ends; what names the
// awaited thing in the error.
func poll(ctx context.Context, try func() (bool, error), what string) error {
	for {
		done, err := try()
		if done {
			return nil
		}
		if ctx.Err() != nil { // the deadline may land inside try's call
			return fmt.Errorf("%w: %s", ErrNotFound, what)
		}
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s", ErrNotFound, what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// center scrolls the element into view and returns the middle of its first box.
func center(ctx context.Context, obj runtime.RemoteObjectID) (float64, float64, error) {
	if _, err := chromedp.Call(ctx, dom.ScrollIntoViewIfNeeded, dom.ScrollIntoViewIfNeededParams{ObjectID: obj}); err != nil {
		return 0, 0, fmt.Errorf("%w: cannot scroll to it: %v", ErrNotFound, err)
	}
	q, err := chromedp.Call(ctx, dom.GetContentQuads, dom.GetContentQuadsParams{ObjectID: obj})
	if err != nil || len(q.Quads) == 0 || len(q.Quads[0]) < 8 {
		return 0, 0, fmt.Errorf("%w: it is not visible", ErrNotFound)
	}
	b := q.Quads[0]
	return (b[0] + b[2] + b[4] + b[6]) / 4, (b[1] + b[3] + b[5] + b[7]) / 4, nil
}

// evalValue evaluates expr in the page and decodes its JSON value into T.
func evalValue[T any](ctx context.Context, expr string) (T, error) {
	var v T
	res, err := chromedp.Call(ctx, runtime.Evaluate, runtime.EvaluateParams{Expression: expr, ReturnByValue: new(true)})
	if err != nil {
		return v, err
	}
	return decodeResult[T](res.Result, res.ExceptionDetails)
}

// decodeResult is a script's value decoded into T, or the exception it threw.
func decodeResult[T any](result *runtime.RemoteObject, exc *runtime.ExceptionDetails) (T, error) {
	var v T
	if exc != nil {
		return v, fmt.Errorf("page script failed: %s", exceptionText(exc))
	}
	var err error
	if result != nil && len(result.Value) > 0 {
		err = json.Unmarshal(result.Value, &v)
	}
	return v, err
}

// callOn calls the function declaration fn with this = obj and one argument.
func callOn[T any](ctx context.Context, obj runtime.RemoteObjectID, fn string, arg any) (T, error) {
	var v T
	b, err := json.Marshal(arg)
	if err != nil {
		return v, err
	}
	res, err := chromedp.Call(ctx, runtime.CallFunctionOn, runtime.CallFunctionOnParams{
		FunctionDeclaration: fn, ObjectID: obj, ReturnByValue: new(true),
		Arguments: []*runtime.CallArgument{{Value: jsonv2.Value(b)}},
	})
	if err != nil {
		return v, err
	}
	return decodeResult[T](res.Result, res.ExceptionDetails)
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d.Exception != nil && d.Exception.Description != "" {
		return firstLine(d.Exception.Description)
	}
	return d.Text
}

// jsString quotes s as a JavaScript string literal (JSON's quoting is a subset).
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
