package logs

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

// The disk queue's bounds. Past them the newest lines are dropped, not the child slowed.
const (
	queueBatches = 4096
	queueBytes   = 8 << 20
	writeBuffer  = 64 << 10
)

// diskWriter appends lines to the services' files from its own goroutine. A line that does
// not reach its file is counted in its service's dropped lines, and no record is left torn:
// a short write is cut back to the last whole record.
type diskWriter struct {
	maxBytes int64
	keep     int
	limit    int // the longest record
	logger   *slog.Logger
	note     func(service, text string) // a line of the store's own into the service's log

	queue   chan diskBatch
	queued  atomic.Int64 // text bytes in the queue
	flushes chan chan struct{}
	done    chan struct{}
	err     error // the first error closing the files, set before done closes

	// Owned by the writer goroutine.
	files   map[string]*logFile
	failing map[string]uint64 // services whose file fails, with the lines lost since it began
	record  []byte
}

type diskBatch struct {
	svc   *service
	lines []Line
	bytes int64
}

type logFile struct {
	svc     *service
	path    string
	f       *os.File
	size    int64  // bytes in the file, whole records only
	buf     []byte // whole records not written yet
	records int    // how many buf holds
}

func newDiskWriter(opts Options, note func(service, text string)) *diskWriter {
	return &diskWriter{
		maxBytes: opts.FileMaxBytes,
		keep:     opts.FileKeep,
		limit:    recordLimit(opts.MaxLineBytes),
		logger:   opts.Logger,
		note:     note,
		queue:    make(chan diskBatch, queueBatches),
		flushes:  make(chan chan struct{}),
		done:     make(chan struct{}),
		files:    make(map[string]*logFile),
		failing:  make(map[string]uint64),
	}
}

// enqueue queues lines for the disk without waiting and reports whether they fit.
func (w *diskWriter) enqueue(svc *service, lines []Line) bool {
	var size int64
	for i := range lines {
		size += int64(len(lines[i].Text))
	}
	if w.queued.Add(size) > queueBytes {
		w.queued.Add(-size)
		return false
	}
	select {
	case w.queue <- diskBatch{svc: svc, lines: lines, bytes: size}:
		return true
	default:
		w.queued.Add(-size)
		return false
	}
}

// flush waits until what was queued before the call is handed to the OS.
func (w *diskWriter) flush() {
	reply := make(chan struct{})
	select {
	case w.flushes <- reply:
		<-reply
	case <-w.done:
	}
}

func (w *diskWriter) run() {
	defer close(w.done)
	for {
		select {
		case b, ok := <-w.queue:
			if !ok {
				w.err = w.closeAll()
				return
			}
			w.write(b)
			if len(w.queue) == 0 {
				w.flushAll()
			}
		case reply := <-w.flushes:
			for len(w.queue) > 0 {
				w.write(<-w.queue)
			}
			w.flushAll()
			close(reply)
		}
	}
}

func (w *diskWriter) write(b diskBatch) {
	defer w.queued.Add(-b.bytes)
	lf, err := w.open(b.svc)
	if err != nil {
		w.fail(b.svc, len(b.lines), err)
		return
	}
	for i, l := range b.lines {
		w.record = appendRecord(w.record[:0], l)
		if pending := lf.size + int64(len(lf.buf)); pending > 0 && pending+int64(len(w.record)) > w.maxBytes {
			if lost, err := w.rotate(lf); err != nil {
				w.fail(b.svc, lost+len(b.lines)-i, err)
				return
			}
		}
		lf.buf = append(lf.buf, w.record...)
		lf.records++
		if len(lf.buf) >= writeBuffer {
			if lost, err := w.flushFile(lf); err != nil {
				w.fail(b.svc, lost+len(b.lines)-i-1, err)
				return
			}
		}
	}
}

// open returns the service's open file, opening it on first use or after a failure.
func (w *diskWriter) open(svc *service) (*logFile, error) {
	if lf := w.files[svc.name]; lf != nil {
		return lf, nil
	}
	lf := &logFile{svc: svc, path: svc.path}
	if err := lf.open(w.limit); err != nil {
		return nil, err
	}
	w.files[svc.name] = lf
	return lf, nil
}

// open opens the file for appending. A file that does not end with a whole record (its
// writer was killed mid-write) is first cut back to its last one, so that the next record
// starts a line of its own.
func (lf *logFile) open(limit int) error {
	f, err := os.OpenFile(lf.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	var size int64
	st, err := f.Stat()
	if err == nil {
		err = f.Chmod(0o600) // in case an older file was created looser
	}
	if err == nil {
		size = st.Size()
		if st.Mode().IsRegular() && size > 0 {
			size, err = repairTail(f, lf.path, size, limit)
		}
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("open log file: %w", err)
	}
	lf.f, lf.size = f, size
	return nil
}

// repairTail cuts f back to the end of its last whole record and returns its new size. A
// tail longer than any record is no record of ours; it gets a newline of its own instead.
func repairTail(f *os.File, path string, size int64, limit int) (int64, error) {
	r, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	start := max(size-int64(limit)-1, 0)
	tail := make([]byte, size-start)
	if _, err := r.ReadAt(tail, start); err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(tail, '\n')
	switch {
	case i == len(tail)-1:
		return size, nil
	case i < 0 && start > 0:
		_, err := f.Write([]byte{'\n'})
		return size + 1, err
	}
	whole := start + int64(i+1)
	return whole, f.Truncate(whole)
}

// flush writes out the buffered records and returns how many of them did not reach the file.
// After a short write it cuts the file back to the last whole record.
func (lf *logFile) flush() (lost int, err error) {
	if len(lf.buf) == 0 {
		return 0, nil
	}
	n, err := lf.f.Write(lf.buf)
	if err != nil {
		whole := bytes.LastIndexByte(lf.buf[:n], '\n') + 1
		lost = lf.records - bytes.Count(lf.buf[:whole], []byte{'\n'})
		if whole < n {
			if terr := lf.f.Truncate(lf.size + int64(whole)); terr != nil {
				err = errors.Join(err, fmt.Errorf("cut back a torn record: %w", terr))
			}
		}
		n = whole
	}
	lf.size += int64(n)
	lf.buf, lf.records = lf.buf[:0], 0
	return lost, err
}

// flushFile writes out lf's buffer like lf.flush, and notes the first write that succeeds
// after a failure.
func (w *diskWriter) flushFile(lf *logFile) (lost int, err error) {
	if len(lf.buf) == 0 {
		return 0, nil
	}
	if lost, err := lf.flush(); err != nil {
		return lost, err
	}
	name := lf.svc.name
	if lostMeanwhile, ok := w.failing[name]; ok {
		delete(w.failing, name)
		w.logger.Info("log file writable again", "service", name, "path", lf.path, "dropped", lostMeanwhile)
		w.note(name, fmt.Sprintf("log file writable again; %d lines could not be written to it", lostMeanwhile))
	}
	return 0, nil
}

func (lf *logFile) close() (lost int, err error) {
	lost, err = lf.flush()
	return lost, errors.Join(err, lf.f.Close())
}

// rotate shifts <path>.N to <path>.N+1 (the oldest falls off), moves the current file to
// <path>.1 and starts a new one. It returns how many buffered lines did not reach the file.
func (w *diskWriter) rotate(lf *logFile) (int, error) {
	if lost, err := w.flushFile(lf); err != nil {
		return lost, fmt.Errorf("rotate log file: %w", err)
	}
	if err := lf.f.Close(); err != nil {
		return 0, fmt.Errorf("rotate log file: %w", err)
	}
	var err error
	if w.keep == 0 {
		err = os.Remove(lf.path)
	} else {
		for i := w.keep - 1; i >= 1; i-- {
			// A missing file is fine: there were fewer rotations so far.
			_ = os.Rename(rotatedPath(lf.path, i), rotatedPath(lf.path, i+1))
		}
		err = os.Rename(lf.path, rotatedPath(lf.path, 1))
	}
	if err != nil {
		return 0, fmt.Errorf("rotate log file: %w", err)
	}
	return 0, lf.open(w.limit)
}

func rotatedPath(path string, n int) string { return path + "." + strconv.Itoa(n) }

// fail drops n lines of svc after an error, with any still buffered, and closes its file, so
// the next batch tries again. The first failure of a run of them is logged and noted.
func (w *diskWriter) fail(svc *service, n int, err error) {
	if lf := w.files[svc.name]; lf != nil {
		n += lf.records
		_ = lf.f.Close() // already failing; the write error is the one worth reporting
		delete(w.files, svc.name)
	}
	svc.dropped.Add(uint64(n))
	lost, ok := w.failing[svc.name]
	w.failing[svc.name] = lost + uint64(n)
	if ok {
		return
	}
	w.logger.Warn("cannot write log file; dropping lines", "service", svc.name, "path", svc.path, "err", err)
	w.note(svc.name, fmt.Sprintf("cannot write the log file, dropping lines until it can be written again: %v", err))
}

func (w *diskWriter) flushAll() {
	for _, lf := range w.files {
		if lost, err := w.flushFile(lf); err != nil {
			w.fail(lf.svc, lost, err)
		}
	}
}

func (w *diskWriter) closeAll() error {
	var errs []error
	for _, lf := range w.files {
		lost, err := lf.close()
		lf.svc.dropped.Add(uint64(lost))
		errs = append(errs, err)
	}
	clear(w.files)
	return errors.Join(errs...)
}

// fileName is the file of service inside the log directory. Names are kept to a safe
// alphabet so that no service name can point outside it.
func fileName(service string) string {
	b := []byte(service)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' && i > 0) {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		b = []byte("_")
	}
	return string(b) + ".log"
}

// logFiles lists the services that have log files in dir by file name ("daemon" for
// daemon.log), each with its highest rotation number (0 when only <name>.log exists). A
// missing directory has none.
func logFiles(dir string) (map[string]int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list log files: %w", err)
	}
	found := make(map[string]int)
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if name, n, ok := parseFileName(e.Name()); ok {
			found[name] = max(found[name], n)
		}
	}
	return found, nil
}

// parseFileName splits "daemon.log" into ("daemon", 0) and "daemon.log.2" into ("daemon", 2).
func parseFileName(base string) (name string, n int, ok bool) {
	if name, ok := strings.CutSuffix(base, ".log"); ok && name != "" {
		return name, 0, true
	}
	i := strings.LastIndex(base, ".log.")
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(base[i+len(".log."):])
	if err != nil || n < 1 {
		return "", 0, false
	}
	return base[:i], n, true
}
