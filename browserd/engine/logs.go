package engine

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
)

// maxLogText bounds one log entry's text or URL.
const maxLogText = 2 << 10

// ConsoleEntry is one console message, uncaught exception or browser log entry of a page.
type ConsoleEntry struct {
	Time  time.Time
	Level string // debug, info, warning, error
	Text  string
	URL   string // where it came from, when known
}

// NetworkEntry is one request's outcome: a response, a failure, or a refusal.
type NetworkEntry struct {
	Time       time.Time
	Method     string
	URL        string
	Type       string // document, script, image, …
	Status     int    // 0 when no response came
	MIMEType   string
	RemoteAddr string
	Error      string // the browser's net error, or the refusal
	Refused    bool   // the Guard refused it
}

// Logs is a copy of a session's logs. Dropped counts entries pushed out of the bounded rings.
type Logs struct {
	Console        []ConsoleEntry
	Network        []NetworkEntry
	ConsoleDropped int
	NetworkDropped int
}

// ring keeps the last n values pushed.
type ring[T any] struct {
	buf     []T
	next    int
	full    bool
	dropped int
}

func newRing[T any](n int) *ring[T] { return &ring[T]{buf: make([]T, n)} }

func (r *ring[T]) push(v T) {
	if r.full {
		r.dropped++
	}
	r.buf[r.next] = v
	r.next = (r.next + 1) % len(r.buf)
	if r.next == 0 {
		r.full = true
	}
}

// items returns the values oldest first.
func (r *ring[T]) items() []T {
	if !r.full {
		return append([]T(nil), r.buf[:r.next]...)
	}
	return append(append([]T(nil), r.buf[r.next:]...), r.buf[:r.next]...)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// cut on a rune boundary
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// Logs returns copies of a session's console and network logs.
func (e *Engine) Logs(id string) (Logs, error) {
	s, err := e.lookup(id)
	if err != nil {
		return Logs{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return Logs{
		Console: s.console.items(), Network: s.network.items(),
		ConsoleDropped: s.console.dropped, NetworkDropped: s.network.dropped,
	}, nil
}

func (s *session) logConsole(c ConsoleEntry) {
	c.Text, c.URL = clip(c.Text, maxLogText), clip(c.URL, maxLogText)
	s.mu.Lock()
	s.console.push(c)
	s.mu.Unlock()
}

func (s *session) logNetwork(n NetworkEntry) {
	n.URL, n.Error = clip(redactURL(n.URL), maxLogText), clip(n.Error, maxLogText)
	s.mu.Lock()
	s.network.push(n)
	if n.Refused {
		s.lastRefusal = n.Time
	}
	s.mu.Unlock()
}

// refusedSince reports whether a request of the session was refused at or after t.
func (s *session) refusedSince(t time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.lastRefusal.Before(t)
}

// NoteRefusal records in a session's network log that its proxy refused target: the
// proxy, not the engine, sees where a name really leads. An unknown session is ignored.
func (e *Engine) NoteRefusal(id, target, reason string) {
	s, err := e.lookup(id)
	if err != nil {
		return
	}
	s.logNetwork(NetworkEntry{Time: time.Now(), URL: target, Error: fmt.Sprintf("%v: %s", ErrRefused, reason), Refused: true})
}

// consoleEntry turns a console-ish CDP event into an entry; ok is false for other events.
func consoleEntry(ev any) (ConsoleEntry, bool) {
	now := time.Now()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		parts := make([]string, 0, len(ev.Args))
		for _, a := range ev.Args {
			parts = append(parts, remoteText(a))
		}
		return ConsoleEntry{Time: now, Level: consoleLevel(string(ev.Type)), Text: strings.Join(parts, " ")}, true
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			text = d.Exception.Description
		}
		return ConsoleEntry{Time: now, Level: "error", Text: text, URL: redactURL(d.URL)}, true
	case *log.EventEntryAdded:
		if ev.Entry == nil {
			return ConsoleEntry{}, false
		}
		level := string(ev.Entry.Level)
		if level == "verbose" {
			level = "debug"
		}
		return ConsoleEntry{Time: now, Level: level, Text: ev.Entry.Text, URL: redactURL(ev.Entry.URL)}, true
	}
	return ConsoleEntry{}, false
}

func consoleLevel(t string) string {
	switch t {
	case "error", "assert":
		return "error"
	case "warning":
		return "warning"
	case "debug", "trace":
		return "debug"
	}
	return "info"
}

// remoteText renders a console argument as the page would print it, roughly.
func remoteText(o *runtime.RemoteObject) string {
	if o == nil {
		return ""
	}
	if len(o.Value) > 0 {
		v := string(o.Value)
		if len(v) >= 2 && v[0] == '"' {
			var s string
			if _, err := fmt.Sscanf(v, "%q", &s); err == nil {
				return s
			}
		}
		return v
	}
	if o.Description != "" {
		return o.Description
	}
	return string(o.Type)
}

// requestBook remembers in-flight requests so a failure can be logged with its URL.
// Bounded: past maxInFlight the oldest are forgotten (their failures log without a URL).
type requestBook struct {
	reqs  map[network.RequestID]NetworkEntry
	order []network.RequestID
}

const maxInFlight = 1024

func (b *requestBook) add(id network.RequestID, n NetworkEntry) {
	if b.reqs == nil {
		b.reqs = map[network.RequestID]NetworkEntry{}
	}
	if _, ok := b.reqs[id]; !ok {
		b.order = append(b.order, id)
	}
	b.reqs[id] = n
	for len(b.order) > maxInFlight {
		delete(b.reqs, b.order[0])
		b.order = b.order[1:]
	}
}

func (b *requestBook) take(id network.RequestID) NetworkEntry {
	n := b.reqs[id]
	delete(b.reqs, id)
	// order is trimmed lazily in add; stale ids there cost nothing but a map miss
	return n
}

// redactURL hides what a logged URL may carry for its owner only: the password, the values
// of query keys that name a secret, and the fragment. A URL that does not parse is kept
// to its scheme and host, or dropped.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.IndexAny(raw, "?#"); i >= 0 {
			return raw[:i] + "?<redacted>"
		}
		return raw
	}
	if u.Scheme == "data" {
		return clip(raw, 64)
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "redacted")
	}
	u.Fragment, u.RawFragment = "", ""
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil { // a malformed pair would be dropped from q, not redacted
			u.RawQuery = "redacted"
			return u.String()
		}
		changed := false
		for k, vs := range q {
			if sensitiveKey(k) {
				for i := range vs {
					vs[i] = "redacted"
				}
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}

// sensitiveKey says a query key likely holds a secret.
func sensitiveKey(k string) bool {
	k = strings.ToLower(k)
	switch k {
	case "code", "state", "auth", "key", "api_key", "apikey", "sig", "signature", "session", "sid", "jwt":
		return true
	}
	for _, w := range []string{"token", "secret", "password", "passwd", "credential"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}
