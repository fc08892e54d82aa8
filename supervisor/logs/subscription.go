package logs

import "sync/atomic"

// Subscription receives the new lines of some services in batches, as they are captured.
// A subscriber that falls behind loses batches, counted by Dropped; it never slows the
// store or other subscribers.
type Subscription struct {
	store    *Store
	services map[string]bool // nil means every service
	c        chan []Line
	dropped  atomic.Uint64
}

// C returns the channel of batches, ordered by Seq. It is closed when the subscription or
// the store is closed. Batches are shared: read them, don't modify them.
func (sub *Subscription) C() <-chan []Line { return sub.c }

// Dropped returns how many lines this subscription lost because its channel was full.
func (sub *Subscription) Dropped() uint64 { return sub.dropped.Load() }

// Close ends the subscription and closes its channel.
func (sub *Subscription) Close() {
	s := sub.store
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.subs[sub]; ok {
		delete(s.subs, sub)
		close(sub.c)
	}
}

// offer hands lines of service to the subscriber without waiting. The store's mutex is
// held, so it never races Close.
func (sub *Subscription) offer(service string, lines []Line) {
	if sub.services != nil && !sub.services[service] {
		return
	}
	select {
	case sub.c <- lines:
	default:
		sub.dropped.Add(uint64(len(lines)))
	}
}
