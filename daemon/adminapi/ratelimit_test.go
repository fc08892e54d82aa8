package adminapi

import (
	"fmt"
	"testing"
	"time"
)

func TestRateLimitLetsABurstThroughThenOneAnInterval(t *testing.T) {
	at := time.Now()
	l := newRateLimit(24*time.Hour/requestsPerDay, requestsPerDay)
	for i := range requestsPerDay {
		if _, ok := l.allow("ci#1", at); !ok {
			t.Fatalf("call %d of a day's burst refused", i+1)
		}
	}
	wait, ok := l.allow("ci#1", at)
	if ok || wait != 24*time.Hour/requestsPerDay {
		t.Fatalf("past the burst: %v, %v; want refused for one interval", wait, ok)
	}
	if _, ok := l.allow("other#2", at); !ok {
		t.Fatal("another caller is held back")
	}
	if _, ok := l.allow("ci#1", at.Add(24*time.Hour/requestsPerDay)); !ok {
		t.Fatal("one interval later: still refused")
	}
}

func TestRateLimitForgetsIdleCallersPastItsBound(t *testing.T) {
	at := time.Now()
	l := newRateLimit(time.Second, 2)
	for i := range maxBuckets {
		l.allow(fmt.Sprint("t#", i), at)
	}
	l.allow("late#1", at.Add(time.Hour)) // every earlier bucket is full again by now
	if len(l.buckets) != 1 {
		t.Fatalf("%d callers remembered, want only the newest", len(l.buckets))
	}
}

func TestRoundUpNeverSaysZero(t *testing.T) {
	for d, want := range map[time.Duration]time.Duration{time.Millisecond: time.Second, 1500 * time.Millisecond: 2 * time.Second, 43 * time.Second: 43 * time.Second} {
		if got := roundUp(d); got != want {
			t.Errorf("roundUp(%v) = %v, want %v", d, got, want)
		}
	}
}
