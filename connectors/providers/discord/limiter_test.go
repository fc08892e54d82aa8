package discord

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/disgoorg/disgo/rest"
)

// clock is a time that moves only when told.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newTestLimiter() (*limiter, *clock) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	l := newLimiter(c.now)
	l.maxBlock = 0 // every wait is a refusal, so nothing sleeps
	return l, c
}

func answer(status int, headers map[string]string) *http.Response {
	h := http.Header{}
	for k, v := range headers {
		h.Set(k, v)
	}
	return &http.Response{StatusCode: status, Header: h}
}

func limitedFor(t *testing.T, err error) time.Duration {
	t.Helper()
	le, ok := errors.AsType[*limitedError](err)
	if !ok {
		t.Fatalf("err = %v, want a refusal of the limiter", err)
	}
	return le.wait
}

var (
	sendA = rest.CreateMessage.Compile(nil, "111")
	sendB = rest.CreateMessage.Compile(nil, "222")
	editA = rest.UpdateMessage.Compile(nil, "111", "5")
)

func TestLimiterLearnsBucketsFromHeaders(t *testing.T) {
	l, c := newTestLimiter()
	ctx := context.Background()
	if err := l.WaitBucket(ctx, sendA); err != nil {
		t.Fatal(err)
	}
	l.UnlockBucket(sendA, answer(200, map[string]string{"X-RateLimit-Bucket": "abc", "X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "2.5"}))
	if wait := limitedFor(t, l.WaitBucket(ctx, sendA)); wait != 2500*time.Millisecond {
		t.Fatalf("wait = %s, want the bucket's 2.5s", wait)
	}
	if err := l.WaitBucket(ctx, sendB); err != nil {
		t.Fatalf("another channel has its own bucket: %v", err)
	}
	c.advance(2500 * time.Millisecond)
	if err := l.WaitBucket(ctx, sendA); err != nil {
		t.Fatalf("after the reset: %v", err)
	}
}

func TestLimiterSpendsRemainingBeforeTheAnswer(t *testing.T) {
	l, _ := newTestLimiter()
	ctx := context.Background()
	l.WaitBucket(ctx, sendA)
	l.UnlockBucket(sendA, answer(200, map[string]string{"X-RateLimit-Bucket": "abc", "X-RateLimit-Remaining": "2", "X-RateLimit-Reset-After": "5"}))
	for i := range 2 {
		if err := l.WaitBucket(ctx, sendA); err != nil {
			t.Fatalf("request %d of 2 left: %v", i+1, err)
		}
	}
	limitedFor(t, l.WaitBucket(ctx, sendA))
}

func TestLimiterTakesA429(t *testing.T) {
	l, c := newTestLimiter()
	ctx := context.Background()
	l.WaitBucket(ctx, sendA)
	l.UnlockBucket(sendA, answer(429, map[string]string{"Retry-After": "3"}))
	if wait := limitedFor(t, l.WaitBucket(ctx, sendA)); wait != 3*time.Second {
		t.Fatalf("wait = %s, want Retry-After's 3s", wait)
	}
	c.advance(3 * time.Second)
	l.WaitBucket(ctx, sendA)
	l.UnlockBucket(sendA, answer(429, map[string]string{"Retry-After": "1", "X-RateLimit-Global": "true"}))
	if wait := limitedFor(t, l.WaitBucket(ctx, editA)); wait != time.Second {
		t.Fatalf("after a global 429 another route waits %s, want 1s", wait)
	}
}

func TestLimiterKeepsTheGlobalRate(t *testing.T) {
	l, c := newTestLimiter()
	ctx := context.Background()
	for i := range globalPerSecond {
		if err := l.WaitBucket(ctx, rest.CreateMessage.Compile(nil, i+1)); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		c.advance(time.Millisecond)
	}
	if wait := limitedFor(t, l.WaitBucket(ctx, sendA)); wait != time.Second-globalPerSecond*time.Millisecond {
		t.Fatalf("request %d waits %s", globalPerSecond+1, wait)
	}
	c.advance(time.Second)
	if err := l.WaitBucket(ctx, sendA); err != nil {
		t.Fatalf("a second later: %v", err)
	}
}

func TestLimiterWaitsShortly(t *testing.T) {
	l := newLimiter(time.Now)
	l.WaitBucket(context.Background(), sendA)
	l.UnlockBucket(sendA, answer(200, map[string]string{"X-RateLimit-Bucket": "abc", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "0.01"}))
	if err := l.WaitBucket(context.Background(), sendA); err != nil {
		t.Fatalf("a wait under maxBlock is waited out: %v", err)
	}
	l.UnlockBucket(sendA, answer(200, map[string]string{"X-RateLimit-Bucket": "abc", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "60"}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	limitedFor(t, l.WaitBucket(ctx, sendA))
}

func TestLimiterStopsAfterTooManyInvalidRequests(t *testing.T) {
	l, c := newTestLimiter()
	ctx := context.Background()
	l.UnlockBucket(sendA, answer(429, map[string]string{"Retry-After": "0", "X-RateLimit-Scope": "shared"}))
	for i := range invalidLimit - 1 {
		status := []int{401, 403, 429}[i%3]
		l.UnlockBucket(editA, answer(status, map[string]string{"Retry-After": "0"}))
		c.advance(time.Millisecond)
	}
	if err := l.WaitBucket(ctx, sendB); err != nil {
		t.Fatalf("after %d invalid requests (and a shared 429, which does not count): %v", invalidLimit-1, err)
	}
	if n := l.invalidCount(); n != invalidLimit-1 {
		t.Fatalf("invalidCount = %d", n)
	}
	l.UnlockBucket(editA, answer(401, nil))
	err := l.WaitBucket(ctx, sendB)
	if wait := limitedFor(t, err); wait <= 9*time.Minute || !strings.Contains(err.Error(), "ban") {
		t.Fatalf("refusal = %v", err)
	}
	c.advance(invalidWindow)
	if err := l.WaitBucket(ctx, sendB); err != nil {
		t.Fatalf("once the window passed: %v", err)
	}
}

func TestNonce(t *testing.T) {
	a, b := nonce("discord:ops:01J0"), nonce("discord:ops:01J1")
	if len(a) != nonceLen || a != nonce("discord:ops:01J0") || a == b {
		t.Fatalf("nonces %q %q: want %d characters, the same for a key, different across keys", a, b, nonceLen)
	}
}

func TestCleanText(t *testing.T) {
	got := cleanText("\x1b[31mred\x1b[0m\r\nline two\a\x1b]0;title\x07\u202e!")
	if got != "red\nline two!" {
		t.Fatalf("cleanText = %q", got)
	}
	if s := truncate("aé", 2); s != "a" {
		t.Fatalf("truncate cut a character: %q", s)
	}
}
