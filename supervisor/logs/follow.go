package logs

import (
	"bytes"
	"os"
	"sync"
)

// Follower reads the records that services write to their files from the moment it was
// made, in order per service. It reads the files themselves, through descriptors of its
// own, so it costs the capture nothing and falls behind without losing lines: a segment
// that rotation deleted stays readable until it has read it, within Options.FollowBacklog.
type Follower struct {
	store *Store
	all   bool // it follows every service, those that appear later too

	mu      sync.Mutex // guards cursors and closed
	cursors []*cursor
	closed  bool

	next int    // the cursor Read starts with, so that one busy service cannot starve others
	buf  []byte // what the last Read returned refers to it
}

// Block holds whole records of one service, in the files' format (see record.go).
type Block struct {
	Service string
	Records []byte
}

// Chunk is what one Read found.
type Chunk struct {
	Blocks   []Block // in Seq order within each service, merged by Seq across services
	Skipped  uint64  // lines lost to this follower because it fell too far behind
	Unstored uint64  // lines of the services followed that never reached their files
	Behind   int64   // bytes written that this follower has yet to read
}

// cursor is a follower's place in one service's segments.
type cursor struct {
	svc     *serviceLog
	seg     *segment // nil while waiting for the segment numbered wantID
	wantID  uint64
	off     int64  // bytes of seg read
	lines   int64  // records of seg read
	after   uint64 // records up to this Seq are left out; 0 once past them
	dropped uint64 // the service's dropped lines when last reported
	skipped uint64 // lines lost to eviction, not yet reported
}

// Follow returns a follower of services (all when empty), starting after the lines stored
// so far. Close it when done.
func (s *Store) Follow(services []string) *Follower {
	f := &Follower{store: s, all: len(services) == 0}
	var svcs []*serviceLog
	for _, name := range services {
		if svc := s.service(name); svc != nil {
			svcs = append(svcs, svc)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		f.closed = true
		return f
	}
	if f.all {
		s.followers[f] = struct{}{}
		for _, svc := range s.services {
			svcs = append(svcs, svc)
		}
	}
	for _, svc := range svcs {
		f.add(svc)
	}
	return f
}

// add starts following svc at its end. Lock order: store, follower, service.
func (f *Follower) add(svc *serviceLog) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	c := &cursor{svc: svc}
	svc.mu.Lock()
	if seg := svc.current; seg != nil {
		c.seg, c.off, c.lines = seg, seg.size.Load(), seg.lines.Load()
		seg.refs++
	} else {
		c.wantID = svc.nextID
	}
	svc.followers++
	c.after = f.store.seq.Load() // nothing of svc is appended meanwhile: its mu is held
	svc.mu.Unlock()
	c.dropped = svc.dropped.Load()
	f.cursors = append(f.cursors, c)
}

// SkipThrough leaves out the lines up to seq, e.g. those already sent from the stored ones.
func (f *Follower) SkipThrough(seq uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.cursors {
		c.after = max(c.after, seq)
	}
}

// Changed returns a channel closed when a file the follower may follow has grown, or the
// store closed. Take it before Read to miss nothing.
func (f *Follower) Changed() <-chan struct{} { return f.store.written.wait() }

// Done reports whether nothing more will come: the follower is closed, or the store is and
// its files are complete. What Read still returns then is the last of it.
func (f *Follower) Done() bool {
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	return closed || f.store.isFinished()
}

// Read returns up to about limit bytes of records written since the last Read, without
// waiting. The blocks stay valid until the next Read.
func (f *Follower) Read(limit int) (Chunk, error) {
	limit = max(limit, recordLimit(f.store.opts.MaxLineBytes))
	f.mu.Lock()
	cursors := f.cursors
	f.mu.Unlock()
	var ch Chunk
	if cap(f.buf) < limit {
		f.buf = make([]byte, 0, limit)
	}
	f.buf = f.buf[:0]
	var spans []span
	below := uint64(0) // no bound: one service's records are in order as they are
	if f.all || len(cursors) > 1 {
		below = f.store.watermark()
	}
	for k := range cursors {
		i := (f.next + k) % len(cursors)
		c := cursors[i]
		from := len(f.buf)
		var err error
		if f.buf, err = c.read(f.buf, limit-len(f.buf), below); err != nil {
			return ch, err
		}
		if len(f.buf) > from {
			spans = append(spans, span{service: c.svc.name, b: f.buf[from:]})
		}
		ch.Skipped += c.skipped
		c.skipped = 0
		d := c.svc.dropped.Load()
		ch.Unstored += d - c.dropped
		c.dropped = d
		ch.Behind += c.behind()
		if len(f.buf) >= limit {
			break
		}
	}
	if len(cursors) > 0 {
		f.next = (f.next + 1) % len(cursors)
	}
	ch.Blocks = mergeSpans(spans)
	return ch, nil
}

// Close stops following and lets go of the segments it held.
func (f *Follower) Close() {
	s := f.store
	s.mu.Lock()
	delete(s.followers, f)
	s.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.closed = true
	for _, c := range f.cursors {
		c.close()
	}
	f.cursors = nil
}

// read appends records of its service up to limit bytes to dst, and when below is not 0,
// only those before Seq below.
func (c *cursor) read(dst []byte, limit int, below uint64) ([]byte, error) {
	for limit > 0 {
		seg := c.segment()
		if seg == nil {
			return dst, nil
		}
		sealed := seg.sealed.Load() // before size: once sealed, size is final
		size := seg.size.Load()
		if seg.evicted.Load() || seg.f == nil {
			c.skipped += uint64(max(seg.lines.Load()-c.lines, 0))
			if !sealed {
				return dst, nil
			}
			c.advance()
			continue
		}
		if c.off >= size {
			if !sealed {
				return dst, nil
			}
			c.advance()
			continue
		}
		n := int(min(size-c.off, int64(limit)))
		start := len(dst)
		dst = grow(dst, n)
		got, err := seg.f.ReadAt(dst[start:start+n], seg.start+c.off)
		if err != nil && got < n {
			dst = dst[:start]
			if seg.evicted.Load() {
				continue
			}
			return dst, &os.PathError{Op: "read", Path: c.svc.path, Err: err}
		}
		whole := bytes.LastIndexByte(dst[start:start+n], '\n') + 1
		held := false
		if below != 0 {
			whole, held = cutBefore(dst[start:start+whole], below)
		}
		records := dst[start : start+whole]
		c.off += int64(whole)
		c.lines += int64(bytes.Count(records, []byte{'\n'}))
		if c.after > 0 {
			records = c.skipSeen(records)
		}
		copy(dst[start:], records)
		dst = dst[:start+len(records)]
		limit -= whole
		if whole == 0 || held {
			return dst, nil
		}
	}
	return dst, nil
}

// cutBefore returns how many bytes of the records in b come before the first with a Seq of
// below or more, and whether there is such a record.
func cutBefore(b []byte, below uint64) (int, bool) {
	for off := 0; off < len(b); {
		if recordSeq(b[off:]) >= below {
			return off, true
		}
		off += bytes.IndexByte(b[off:], '\n') + 1
	}
	return len(b), false
}

// skipSeen drops the records up to c.after from the front of b.
func (c *cursor) skipSeen(b []byte) []byte {
	for len(b) > 0 {
		if recordSeq(b) > c.after {
			c.after = 0
			return b
		}
		b = b[bytes.IndexByte(b, '\n')+1:]
	}
	return b
}

// segment returns the segment the cursor reads, finding the one it waits for.
func (c *cursor) segment() *segment {
	if c.seg != nil {
		return c.seg
	}
	svc := c.svc
	svc.mu.Lock()
	defer svc.mu.Unlock()
	for seg := svc.oldest; seg != nil; seg = seg.next {
		if seg.id == c.wantID {
			c.seg, c.off, c.lines = seg, 0, 0
			return seg
		}
	}
	return nil
}

// advance moves on from a finished segment to the next one.
func (c *cursor) advance() {
	svc := c.svc
	svc.mu.Lock()
	defer svc.mu.Unlock()
	seg := c.seg
	c.seg, c.wantID, c.off, c.lines = seg.next, seg.id+1, 0, 0
	seg.release()
	svc.trim()
}

// behind is how many bytes written the cursor has not read.
func (c *cursor) behind() int64 {
	svc := c.svc
	svc.mu.Lock()
	defer svc.mu.Unlock()
	var n int64
	for seg := c.seg; seg != nil; seg = seg.next {
		n += seg.size.Load()
	}
	if c.seg != nil {
		n -= c.off
	}
	return n
}

// close lets go of the cursor's segment and of those after it, all of which count it.
func (c *cursor) close() {
	svc := c.svc
	svc.mu.Lock()
	defer svc.mu.Unlock()
	for seg := svc.oldest; seg != nil; {
		next := seg.next
		if (c.seg != nil && seg.id >= c.seg.id) || (c.seg == nil && seg.id >= c.wantID) {
			seg.release()
		}
		seg = next
	}
	svc.followers--
	svc.trim()
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		b = append(b[:cap(b)], make([]byte, n)...)[:len(b)]
	}
	return b[:len(b)+n]
}

// span is records of one service read together.
type span struct {
	service string
	b       []byte
}

// mergeSpans orders the records of several services by Seq into blocks, each a run of one
// service's records. One span is returned as it is.
func mergeSpans(spans []span) []Block {
	if len(spans) <= 1 {
		var out []Block
		for _, sp := range spans {
			out = append(out, Block{Service: sp.service, Records: sp.b})
		}
		return out
	}
	var out []Block
	heads := make([]uint64, len(spans))
	for i := range spans {
		heads[i] = recordSeq(spans[i].b)
	}
	last := -1
	for {
		first := -1
		for i := range spans {
			if len(spans[i].b) > 0 && (first < 0 || heads[i] < heads[first]) {
				first = i
			}
		}
		if first < 0 {
			return out
		}
		sp := &spans[first]
		end := bytes.IndexByte(sp.b, '\n') + 1
		if first == last {
			blk := &out[len(out)-1]
			blk.Records = blk.Records[:len(blk.Records)+end] // the records lie back to back
		} else {
			out = append(out, Block{Service: sp.service, Records: sp.b[:end]})
			last = first
		}
		sp.b = sp.b[end:]
		if len(sp.b) > 0 {
			heads[first] = recordSeq(sp.b)
		}
	}
}

// recordSeq returns the Seq of the record b starts with, or 0 when it is malformed.
func recordSeq(b []byte) uint64 {
	i := bytes.IndexByte(b, '\t')
	if i < 0 {
		return 0
	}
	b = b[i+1:]
	j := bytes.IndexByte(b, '\t')
	if j < 0 {
		return 0
	}
	seq, _ := parseUint(b[:j])
	return seq
}
