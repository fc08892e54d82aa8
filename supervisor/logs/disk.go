package logs

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
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

// diskWriter appends lines to the services' files from its own goroutine.
type diskWriter struct {
	maxBytes int64
	keep     int
	logger   *slog.Logger

	queue   chan diskBatch
	queued  atomic.Int64 // text bytes in the queue
	flushes chan chan struct{}
	done    chan struct{}
	err     error // the first error closing the files, set before done closes

	// Owned by the writer goroutine.
	files   map[string]*logFile
	failing map[string]bool
	record  []byte
}

type diskBatch struct {
	svc   *service
	lines []Line
	bytes int64
}

type logFile struct {
	svc  *service
	path string
	f    *os.File
	w    *bufio.Writer
	size int64
}

func newDiskWriter(opts Options) *diskWriter {
	return &diskWriter{
		maxBytes: opts.FileMaxBytes,
		keep:     opts.FileKeep,
		logger:   opts.Logger,
		queue:    make(chan diskBatch, queueBatches),
		flushes:  make(chan chan struct{}),
		done:     make(chan struct{}),
		files:    make(map[string]*logFile),
		failing:  make(map[string]bool),
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
	name := b.svc.name
	lf, err := w.open(b.svc)
	if err != nil {
		w.fail(b.svc, len(b.lines), err)
		return
	}
	for i, l := range b.lines {
		w.record = appendRecord(w.record[:0], l)
		if lf.size > 0 && lf.size+int64(len(w.record)) > w.maxBytes {
			if err := w.rotate(lf); err != nil {
				w.fail(b.svc, len(b.lines)-i, err)
				return
			}
		}
		if _, err := lf.w.Write(w.record); err != nil {
			w.fail(b.svc, len(b.lines)-i, err)
			return
		}
		lf.size += int64(len(w.record))
	}
	if w.failing[name] {
		delete(w.failing, name)
		w.logger.Info("log file writable again", "service", name, "path", lf.path)
	}
}

// open returns the service's open file, opening it on first use or after a failure.
func (w *diskWriter) open(svc *service) (*logFile, error) {
	if lf := w.files[svc.name]; lf != nil {
		return lf, nil
	}
	lf := &logFile{svc: svc, path: svc.path}
	if err := lf.open(); err != nil {
		return nil, err
	}
	w.files[svc.name] = lf
	return lf, nil
}

func (lf *logFile) open() error {
	f, err := os.OpenFile(lf.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	st, err := f.Stat()
	if err == nil {
		err = f.Chmod(0o600) // in case an older file was created looser
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("open log file: %w", err)
	}
	lf.f, lf.size = f, st.Size()
	if lf.w == nil {
		lf.w = bufio.NewWriterSize(f, writeBuffer)
	} else {
		lf.w.Reset(f)
	}
	return nil
}

func (lf *logFile) close() error {
	return errors.Join(lf.w.Flush(), lf.f.Close())
}

// rotate shifts <path>.N to <path>.N+1 (the oldest falls off), moves the current file to
// <path>.1 and starts a new one.
func (w *diskWriter) rotate(lf *logFile) error {
	if err := lf.close(); err != nil {
		return fmt.Errorf("rotate log file: %w", err)
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
		return fmt.Errorf("rotate log file: %w", err)
	}
	return lf.open()
}

func rotatedPath(path string, n int) string { return path + "." + strconv.Itoa(n) }

// fail drops n lines of svc after an error and closes its file, so the next batch tries
// again. It logs once per run of failures.
func (w *diskWriter) fail(svc *service, n int, err error) {
	svc.dropped.Add(uint64(n))
	if lf := w.files[svc.name]; lf != nil {
		_ = lf.f.Close() // already failing; the write error is the one worth reporting
		delete(w.files, svc.name)
	}
	if !w.failing[svc.name] {
		w.failing[svc.name] = true
		w.logger.Warn("cannot write log file; dropping lines", "service", svc.name, "path", svc.path, "err", err)
	}
}

func (w *diskWriter) flushAll() {
	for _, lf := range w.files {
		if err := lf.w.Flush(); err != nil {
			// Unknown how many lines the buffer held; count none rather than guess.
			w.fail(lf.svc, 0, err)
		}
	}
}

func (w *diskWriter) closeAll() error {
	var errs []error
	for _, lf := range w.files {
		errs = append(errs, lf.close())
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

// logFiles lists the log files in dir by service file name ("daemon" for daemon.log),
// oldest first: <name>.log.N down to <name>.log.1, then <name>.log.
func logFiles(dir string) (map[string][]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list log files: %w", err)
	}
	type file struct {
		path string
		n    int // 0 for the current file
	}
	found := make(map[string][]file)
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		name, n, ok := parseFileName(e.Name())
		if ok {
			found[name] = append(found[name], file{filepath.Join(dir, e.Name()), n})
		}
	}
	out := make(map[string][]string, len(found))
	for name, files := range found {
		// Oldest first: the highest rotation number first, the current file (0) last.
		slices.SortFunc(files, func(a, b file) int { return b.n - a.n })
		for _, f := range files {
			out[name] = append(out[name], f.path)
		}
	}
	return out, nil
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
