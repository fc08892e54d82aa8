package discord

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/disgoorg/disgo/rest"
)

// Discord's limits that the limiter keeps to.
const (
	globalPerSecond = 50 // requests per second per bot, all routes
	// invalidLimit is how many 401, 403 and 429 answers in invalidWindow make the limiter
	// refuse to send: Discord bans an IP for a while at 10,000, so this stays far below.
	invalidLimit  = 1000
	invalidWindow = 10 * time.Minute
	// maxBlock is the longest a request waits in the limiter; a longer wait is handed back
	// to the outbox as a rate-limited retry.
	maxBlock   = time.Second
	maxBuckets = 1024
)

// limitedError is the limiter's refusal: the request was not sent.
type limitedError struct {
	wait   time.Duration
	reason string
}

func (e *limitedError) Error() string {
	return fmt.Sprintf("%s; try again in %s", e.reason, e.wait.Round(time.Millisecond))
}

// limiter is disgo's rest.RateLimiter for one bot token. It never retries (MaxRetries 0: the
// outbox owns every retry) and never waits long: it learns each route's bucket from the
// X-RateLimit-* headers and refuses a request whose bucket is spent, keeps the global 50
// requests a second, and stops sending once too many requests were refused.
type limiter struct {
	now      func() time.Time
	maxBlock time.Duration

	mu       sync.Mutex
	routes   map[string]string // method+route → bucket hash (X-RateLimit-Bucket)
	buckets  map[string]*routeBucket
	global   time.Time                  // a global 429 blocks everything until then
	recent   [globalPerSecond]time.Time // the last requests' start times, a ring
	next     int
	invalid  [invalidLimit]time.Time // the last refused answers, a ring
	nextBad  int
	badTotal int
}

type routeBucket struct {
	remaining int // -1: not known yet
	reset     time.Time
}

func newLimiter(now func() time.Time) *limiter {
	return &limiter{now: now, maxBlock: maxBlock, routes: map[string]string{}, buckets: map[string]*routeBucket{}}
}

func (l *limiter) MaxRetries() int       { return 0 }
func (l *limiter) Close(context.Context) {}
func (l *limiter) Reset()                {}
func (l *limiter) routeKey(ep *rest.CompiledEndpoint) string {
	return ep.Endpoint.Method + " " + ep.Endpoint.Route
}

// bucketKey is the bucket's hash once Discord named it (routes can share one), else the
// route, with the major parameters (channel id) that give each resource its own limit.
func (l *limiter) bucketKey(ep *rest.CompiledEndpoint) string {
	key := l.routeKey(ep)
	if hash := l.routes[key]; hash != "" {
		key = hash
	}
	return key + "|" + ep.MajorParams
}

// WaitBucket admits a request, waiting at most maxBlock, or refuses it with a limitedError.
func (l *limiter) WaitBucket(ctx context.Context, ep *rest.CompiledEndpoint) error {
	for {
		wait, err := l.admit(ep)
		if err != nil || wait == 0 {
			return err
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
}

// admit takes a place for the request now (0, nil), says how long to wait for one, or
// refuses when the wait is too long or too many requests were refused.
func (l *limiter) admit(ep *rest.CompiledEndpoint) (time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if oldest := l.invalid[l.nextBad]; l.badTotal >= invalidLimit && now.Sub(oldest) < invalidWindow {
		return 0, &limitedError{wait: oldest.Add(invalidWindow).Sub(now),
			reason: fmt.Sprintf("Discord refused %d requests (401, 403, 429) in the last %s; holding off before Discord bans this address", invalidLimit, invalidWindow)}
	}
	var wait time.Duration
	reason := ""
	if l.global.After(now) {
		wait, reason = l.global.Sub(now), "Discord's global rate limit"
	}
	b := l.buckets[l.bucketKey(ep)]
	if b != nil && b.remaining == 0 && b.reset.After(now) && b.reset.Sub(now) > wait {
		wait, reason = b.reset.Sub(now), "the route's rate limit bucket is spent"
	}
	if oldest := l.recent[l.next]; wait == 0 && !oldest.IsZero() && now.Sub(oldest) < time.Second {
		wait, reason = oldest.Add(time.Second).Sub(now), fmt.Sprintf("%d requests a second", globalPerSecond)
	}
	if wait > l.maxBlock {
		return 0, &limitedError{wait: wait, reason: reason}
	}
	if wait > 0 {
		return wait, nil
	}
	l.recent[l.next] = now
	l.next = (l.next + 1) % len(l.recent)
	if b != nil && b.remaining > 0 && b.reset.After(now) {
		b.remaining-- // so that concurrent requests do not overrun the bucket before its headers arrive
	}
	return 0, nil
}

// UnlockBucket learns from the answer's headers.
func (l *limiter) UnlockBucket(ep *rest.CompiledEndpoint, rs *http.Response) error {
	if rs == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	h := rs.Header
	switch rs.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
		// Discord does not count 429s of a shared resource limit against the bot.
		if !(rs.StatusCode == http.StatusTooManyRequests && h.Get("X-RateLimit-Scope") == "shared") {
			l.invalid[l.nextBad] = now
			l.nextBad = (l.nextBad + 1) % len(l.invalid)
			l.badTotal = min(l.badTotal+1, invalidLimit)
		}
	}
	if hash := h.Get("X-RateLimit-Bucket"); hash != "" && len(hash) <= 64 {
		l.routes[l.routeKey(ep)] = hash
	}
	key := l.bucketKey(ep)
	b := l.buckets[key]
	if b == nil {
		l.sweep(now)
		b = &routeBucket{remaining: -1}
		l.buckets[key] = b
	}
	if remaining, err := strconv.Atoi(h.Get("X-RateLimit-Remaining")); err == nil && remaining >= 0 {
		b.remaining = remaining
	}
	resetAfter, haveReset := seconds(h.Get("X-RateLimit-Reset-After"))
	if haveReset {
		b.reset = now.Add(resetAfter)
	}
	if rs.StatusCode == http.StatusTooManyRequests {
		// Retry-After is whole seconds; the bucket's own reset is exact when it is there.
		retryAfter, ok := seconds(h.Get("Retry-After"))
		if !ok {
			retryAfter = time.Second
		}
		switch {
		case h.Get("X-RateLimit-Global") != "" || h.Get("X-RateLimit-Scope") == "global":
			l.global = now.Add(retryAfter)
		case haveReset:
			b.remaining = 0
		default:
			b.remaining, b.reset = 0, now.Add(retryAfter)
		}
	}
	return nil
}

// sweep forgets the buckets whose windows have passed, when there are many.
func (l *limiter) sweep(now time.Time) {
	if len(l.buckets) < maxBuckets {
		return
	}
	for k, b := range l.buckets {
		if !b.reset.After(now) {
			delete(l.buckets, k)
		}
	}
	if len(l.routes) >= maxBuckets {
		clear(l.routes)
	}
}

// invalidCount is how many refused answers the limiter holds in its window now.
func (l *limiter) invalidCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	cutoff := l.now().Add(-invalidWindow)
	n := 0
	for _, t := range l.invalid {
		if !t.IsZero() && t.After(cutoff) {
			n++
		}
	}
	return n
}

// seconds parses Discord's seconds (possibly fractional) into a duration, bounded to a day.
func seconds(v string) (time.Duration, bool) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, false
	}
	return duration(f)
}

func duration(seconds float64) (time.Duration, bool) {
	if !(seconds >= 0 && seconds <= 86400) {
		return 0, false
	}
	return time.Duration(seconds * float64(time.Second)), true
}
