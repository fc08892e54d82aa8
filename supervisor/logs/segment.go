package logs

import (
	"os"
	"sync/atomic"
)

// segment is a run of whole records in one log file, as the writer appended them: from a
// file's creation (or the writer's reopening of it after a failure) until its rotation. A
// follower reads a segment through its own read-only descriptor, so a segment that rotation
// renamed or deleted can still be read to its end while a follower needs it.
type segment struct {
	f     *os.File // read-only; nil when the log file is no regular file
	start int64    // where the segment begins in f

	size    atomic.Int64 // bytes of whole records written so far
	lines   atomic.Int64 // records written so far
	sealed  atomic.Bool  // nothing more is written to it; size and lines are final
	evicted atomic.Bool  // closed before every follower finished it; the rest is lost to them

	// Guarded by the service's mu.
	id   uint64   // segments of a service are numbered from 0 in the order written
	next *segment // the segment written after this one
	refs int      // followers yet to finish it, plus one while it is the writer's
}

// release drops one reference; the last one closes the file. svc.mu must be held.
func (seg *segment) release() {
	seg.refs--
	if seg.refs == 0 && seg.f != nil && !seg.evicted.Load() {
		seg.f.Close()
	}
}
