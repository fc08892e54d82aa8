package adminapi

import (
	"sync"
	"time"
)

// rateLimit is a token bucket per caller: burst calls at once, then one every interval.
type rateLimit struct {
	burst    float64
	interval time.Duration

	mu      sync.Mutex
	buckets map[string]bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxBuckets bounds the callers remembered; past it the full (idle) buckets are dropped,
// which loses nothing since a new caller starts full.
const maxBuckets = 1024

// newRateLimit lets burst calls through at once, then one every interval.
func newRateLimit(interval time.Duration, burst int) *rateLimit {
	return &rateLimit{burst: float64(burst), interval: interval, buckets: map[string]bucket{}}
}

// allow takes a call of caller at now from its bucket, or says how long until one is left.
func (l *rateLimit) allow(caller string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[caller]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.dropFull(now)
		}
		b = bucket{tokens: l.burst, at: now}
	}
	b.tokens = min(l.burst, b.tokens+float64(now.Sub(b.at))/float64(l.interval))
	b.at = now
	if b.tokens < 1 {
		l.buckets[caller] = b
		return time.Duration((1 - b.tokens) * float64(l.interval)), false
	}
	b.tokens--
	l.buckets[caller] = b
	return 0, true
}

func (l *rateLimit) dropFull(now time.Time) {
	for caller, b := range l.buckets {
		if b.tokens+float64(now.Sub(b.at))/float64(l.interval) >= l.burst {
			delete(l.buckets, caller)
		}
	}
}
