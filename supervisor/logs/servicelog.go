package logs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/palyra/palyra/internal/redact"
	"github.com/palyra/palyra/internal/textsafe"
)

// serviceLog is one service's share of the store: the records waiting for its file, the
// goroutine that writes them, and the segments its followers read.
type serviceLog struct {
	name  string
	path  string
	store *Store
	wake  chan struct{} // a write is waiting; capacity one
	done  chan struct{} // the writer has stopped

	dropped atomic.Uint64 // lines that never reached the file

	mu        sync.Mutex
	pending   []byte    // whole records not yet handed to the writer
	spare     []byte    // the writer's last buffer, for the next swap
	appended  uint64    // records ever appended to pending
	processed uint64    // of them, those the writer wrote or lost
	unwritten [2]uint64 // the first Seq in pending and in the write under way, 0 for none
	closed    bool
	oldest    *segment // the oldest segment still open; the list runs on by next
	current   *segment // the one being written, nil while no file is open
	followers int      // live followers of this service
	appender  appender // the one append under way
	scratch   []byte   // a line's text while its level is parsed
	nextID    uint64   // the id of the next segment

	// Owned by the writer goroutine.
	file    *os.File
	size    int64 // bytes in the file, whole records only
	failing bool
	lostRun uint64 // lines lost since the file began failing
}

func newServiceLog(s *Store, name string) *serviceLog {
	svc := &serviceLog{
		name:  name,
		path:  s.FilePath(name),
		store: s,
		wake:  make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
	go svc.run()
	return svc
}

// appender appends records to a service's queue while holding its mu, from begin to end.
type appender struct {
	svc     *serviceLog
	stream  Stream
	stamp   []byte // the time of the records, formatted
	open    bool   // the store was not closed at begin
	kept    uint64
	dropped uint64
}

// begin starts appending records of stream stamped nanos. Lines that do not fit the queue
// are dropped and counted: the child is never made to wait.
func (svc *serviceLog) begin(stream Stream, nanos int64) *appender {
	a := &svc.appender
	svc.mu.Lock()
	*a = appender{svc: svc, stream: stream, stamp: strconv.AppendInt(a.stamp[:0], nanos, 10), open: !svc.closed}
	return a
}

// line cleans, redacts and numbers one line, of which cut more bytes were dropped, and
// appends it as a record. clues and level say what it may hold (see clueFinder).
func (a *appender) line(raw []byte, cut int, clues redact.Clues, level bool) {
	svc := a.svc
	if !a.open {
		return
	}
	if len(svc.pending)+recordLimit(len(raw)) > svc.store.opts.QueueBytes {
		a.dropped++
		return
	}
	if cut > 0 {
		clues |= redact.ClueBearer // the marker says "bytes"
	}
	seq := svc.store.seq.Add(1)
	if svc.unwritten[0] == 0 {
		svc.unwritten[0] = seq
	}
	a.kept++
	if level {
		// The level goes before the text in a record, so the text is cleaned aside first.
		text := cleanText(svc.scratch[:0], raw, cut, clues)
		svc.scratch = text[:0]
		svc.pending = appendRecordParts(svc.pending, a.stamp, seq, a.stream, parseLevel(unsafeString(text)), text)
		return
	}
	svc.pending = appendRecordParts(svc.pending, a.stamp, seq, a.stream, "", nil)
	start := len(svc.pending) - 1 // before the newline
	svc.pending = cleanText(svc.pending[:start], raw, cut, clues)
	svc.pending = append(svc.pending, '\n')
}

// cleanText appends raw made safe and redacted, with the marker of a cut, to dst.
func cleanText(dst, raw []byte, cut int, clues redact.Clues) []byte {
	start := len(dst)
	dst = textsafe.Append(dst, raw)
	if cut > 0 {
		dst = appendTruncated(dst, cut)
	}
	// The text is looked at in place; LineWith returns it as is unless it hides something.
	text := unsafeString(dst[start:])
	if red := redact.LineWith(text, clues); unsafe.StringData(red) != unsafe.StringData(text) || len(red) != len(text) {
		dst = append(dst[:start], red...)
	}
	return dst
}

func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// end finishes the append and wakes the writer.
func (a *appender) end() {
	svc := a.svc
	svc.appended += a.kept
	if a.kept > 0 {
		select { // under mu, so that close cannot close wake meanwhile
		case svc.wake <- struct{}{}:
		default:
		}
	}
	dropped := a.dropped // a is the service's; another append may begin once mu is let go
	svc.mu.Unlock()
	if dropped > 0 {
		svc.dropped.Add(dropped)
	}
}

// oldestUnwritten returns the first Seq of the service not yet in its file, or 0.
func (svc *serviceLog) oldestUnwritten() uint64 {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	first := uint64(0)
	for _, seq := range svc.unwritten {
		if seq != 0 && (first == 0 || seq < first) {
			first = seq
		}
	}
	return first
}

// run writes what is appended until close, then what is left, and closes the file.
func (svc *serviceLog) run() {
	defer close(svc.done)
	for {
		_, open := <-svc.wake
		for svc.writePending() {
		}
		if !open {
			if err := svc.closeFile(); err != nil {
				svc.store.closeErr(err)
			}
			return
		}
	}
}

// writePending writes out what is pending and reports whether more came meanwhile.
func (svc *serviceLog) writePending() bool {
	svc.mu.Lock()
	buf, target := svc.pending, svc.appended
	svc.pending, svc.spare = svc.spare[:0], nil
	svc.unwritten = [2]uint64{0, svc.unwritten[0]}
	svc.mu.Unlock()
	if len(buf) > 0 {
		svc.write(buf)
	}
	svc.mu.Lock()
	svc.processed = target
	svc.unwritten[1] = 0
	// The buffers stay at the size a flood grew them to while it lasts; a quiet write
	// gives a big one back to the heap.
	if len(buf) >= idleWrite || cap(buf) <= maxKeptBuffer {
		svc.spare = buf[:0]
	}
	more := len(svc.pending) > 0
	svc.mu.Unlock()
	svc.store.written.notify()
	return more
}

// maxKeptBuffer is the largest write buffer kept for reuse after a write smaller than
// idleWrite: a flood's larger ones go back to the heap when it ends.
const (
	maxKeptBuffer = 256 << 10
	idleWrite     = 64 << 10
)

// write appends whole records to the file, rotating it before it grows past its limit. What
// cannot be written is counted as dropped.
func (svc *serviceLog) write(buf []byte) {
	opts := svc.store.opts
	for len(buf) > 0 {
		if svc.file == nil {
			if err := svc.open(); err != nil {
				svc.fail(bytes.Count(buf, []byte{'\n'}), err)
				return
			}
		}
		part := buf
		if room := opts.FileMaxBytes - svc.size; int64(len(part)) > room {
			cut := bytes.LastIndexByte(part[:max(room, 0)], '\n') + 1
			if cut == 0 && svc.size > 0 {
				if err := svc.rotate(); err != nil {
					svc.fail(bytes.Count(buf, []byte{'\n'}), err)
					return
				}
				continue
			}
			if cut > 0 {
				part = part[:cut]
			} else { // a single record longer than the limit gets a file of its own
				part = part[:bytes.IndexByte(part, '\n')+1]
			}
		}
		if err := svc.writeFile(part); err != nil {
			svc.fail(bytes.Count(buf[len(part):], []byte{'\n'}), err)
			return
		}
		buf = buf[len(part):]
		if len(buf) > 0 {
			if err := svc.rotate(); err != nil {
				svc.fail(bytes.Count(buf, []byte{'\n'}), err)
				return
			}
		}
	}
}

// writeFile writes whole records. After a short write it cuts the file back to the last
// whole record, counts the rest as lost and returns the error.
func (svc *serviceLog) writeFile(part []byte) error {
	n, err := svc.file.Write(part)
	if err != nil {
		whole := bytes.LastIndexByte(part[:n], '\n') + 1
		if whole < n {
			if terr := svc.file.Truncate(svc.size + int64(whole)); terr != nil {
				err = errors.Join(err, fmt.Errorf("cut back a torn record: %w", terr))
			}
		}
		svc.advance(part[:whole])
		lost := uint64(bytes.Count(part[whole:], []byte{'\n'}))
		svc.dropped.Add(lost)
		svc.lostRun += lost
		return err
	}
	svc.advance(part)
	if svc.failing {
		svc.failing = false
		lost := svc.lostRun
		svc.lostRun = 0
		svc.store.opts.Logger.Info("log file writable again", "service", svc.name, "path", svc.path, "dropped", lost)
		svc.store.Note(svc.name, fmt.Sprintf("log file writable again; %d lines could not be written to it", lost))
	}
	return nil
}

// advance records that written reached the file, for the followers.
func (svc *serviceLog) advance(written []byte) {
	svc.size += int64(len(written))
	if seg := svc.current; seg != nil {
		seg.lines.Add(int64(bytes.Count(written, []byte{'\n'})))
		seg.size.Add(int64(len(written)))
	}
}

// open opens the file for appending, repairing a torn tail, and starts a segment at its end.
func (svc *serviceLog) open() error {
	f, err := os.OpenFile(svc.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	st, err := f.Stat()
	if err == nil {
		err = f.Chmod(0o600) // in case an older file was created looser
	}
	var size int64
	var read *os.File
	if err == nil && st.Mode().IsRegular() {
		size = st.Size()
		if size > 0 {
			size, err = repairTail(f, svc.path, size, recordLimit(svc.store.opts.MaxLineBytes))
		}
		if err == nil {
			read, err = os.Open(svc.path)
		}
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("open log file: %w", err)
	}
	svc.file, svc.size = f, size
	svc.startSegment(&segment{f: read, start: size})
	return nil
}

// startSegment makes seg the one written, sealing the last. Every follower of the service
// needs it, so each holds a reference.
func (svc *serviceLog) startSegment(seg *segment) {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	seg.refs = 1 + svc.followers
	seg.id = svc.nextID
	svc.nextID++
	if prev := svc.current; prev != nil {
		prev.sealed.Store(true)
		prev.next = seg
		prev.release()
	} else if svc.oldest != nil {
		// The last file failed: link on from the newest segment still open.
		last := svc.oldest
		for last.next != nil {
			last = last.next
		}
		last.next = seg
	}
	if svc.oldest == nil {
		svc.oldest = seg
	}
	svc.current = seg
	svc.evictBacklog()
	svc.trim()
}

// endSegment seals the segment being written, when its file fails or closes.
func (svc *serviceLog) endSegment() {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	if seg := svc.current; seg != nil {
		seg.sealed.Store(true)
		svc.current = nil
		seg.release()
		svc.trim()
	}
}

// trim forgets the oldest segments no follower needs any more. svc.mu must be held.
func (svc *serviceLog) trim() {
	for svc.oldest != nil && svc.oldest.refs == 0 {
		svc.oldest = svc.oldest.next
	}
}

// evictBacklog closes the oldest segments that followers still hold after rotation deleted
// their files, once they add up to more than FollowBacklog: a follower that stopped reading
// must not keep the disk filling. Those followers skip what they had not read.
func (svc *serviceLog) evictBacklog() {
	onDisk := svc.store.opts.FileKeep + 1
	var open []*segment
	for seg := svc.oldest; seg != nil; seg = seg.next {
		open = append(open, seg)
	}
	deleted := open[:max(len(open)-onDisk, 0)]
	var held int64
	for _, seg := range deleted {
		held += seg.size.Load()
	}
	for _, seg := range deleted {
		if held <= svc.store.opts.FollowBacklog {
			return
		}
		if seg.refs > 0 && !seg.evicted.Load() {
			seg.evicted.Store(true)
			if seg.f != nil {
				seg.f.Close()
			}
		}
		held -= seg.size.Load()
	}
}

// rotate shifts <path>.N to <path>.N+1 (the oldest falls off), moves the current file to
// <path>.1 and starts a new one.
func (svc *serviceLog) rotate() error {
	keep := svc.store.opts.FileKeep
	if err := svc.closeFile(); err != nil {
		return fmt.Errorf("rotate log file: %w", err)
	}
	var err error
	if keep == 0 {
		err = os.Remove(svc.path)
	} else {
		for i := keep - 1; i >= 1; i-- {
			// A missing file is fine: there were fewer rotations so far.
			_ = os.Rename(rotatedPath(svc.path, i), rotatedPath(svc.path, i+1))
		}
		err = os.Rename(svc.path, rotatedPath(svc.path, 1))
	}
	if err != nil {
		return fmt.Errorf("rotate log file: %w", err)
	}
	return svc.open()
}

func (svc *serviceLog) closeFile() error {
	if svc.file == nil {
		return nil
	}
	err := svc.file.Close()
	svc.file = nil
	svc.endSegment()
	return err
}

// fail drops n lines after an error and closes the file, so that the next write tries
// again. The first failure of a run of them is logged and noted.
func (svc *serviceLog) fail(n int, err error) {
	if svc.file != nil {
		_ = svc.file.Close() // already failing; the write error is the one worth reporting
		svc.file = nil
		svc.endSegment()
	}
	svc.dropped.Add(uint64(n))
	svc.lostRun += uint64(n)
	if svc.failing {
		return
	}
	svc.failing = true
	svc.store.opts.Logger.Warn("cannot write log file; dropping lines", "service", svc.name, "path", svc.path, "err", err)
	svc.store.Note(svc.name, fmt.Sprintf("cannot write the log file, dropping lines until it can be written again: %v", err))
}

// flush waits until the writer has handled every record appended before the call.
func (svc *serviceLog) flush() {
	svc.mu.Lock()
	target := svc.appended
	svc.mu.Unlock()
	for {
		ch := svc.store.written.wait()
		svc.mu.Lock()
		done := svc.processed >= target
		svc.mu.Unlock()
		if done {
			return
		}
		select {
		case <-ch:
		case <-svc.done:
			return
		}
	}
}

// close stops the writer once it has written out what is queued.
func (svc *serviceLog) close() {
	svc.mu.Lock()
	if !svc.closed {
		svc.closed = true
		close(svc.wake)
	}
	svc.mu.Unlock()
	<-svc.done
}
