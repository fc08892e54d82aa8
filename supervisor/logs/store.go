package logs

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palyra/palyra/internal/redact"
)

// Options configures a Store. Zero values take the defaults.
type Options struct {
	Dir           string // created 0700 if missing; files are 0600
	MaxLineBytes  int    // bytes kept of a longer line, which is marked as cut; default 64 KiB
	FileMaxBytes  int64  // a file is rotated before it grows past this; default 16 MiB
	FileKeep      int    // rotated files kept per service; default 3, negative keeps none
	QueueBytes    int    // records per service waiting for the disk; default 8 MiB
	FollowBacklog int64  // bytes of deleted files kept open for followers behind; default 1 GiB
	Logger        *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = 64 << 10
	}
	if o.FileMaxBytes <= 0 {
		o.FileMaxBytes = 16 << 20
	}
	switch {
	case o.FileKeep == 0:
		o.FileKeep = 3
	case o.FileKeep < 0:
		o.FileKeep = 0
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = 8 << 20
	}
	o.QueueBytes = max(o.QueueBytes, recordLimit(o.MaxLineBytes))
	if o.FollowBacklog <= 0 {
		o.FollowBacklog = 1 << 30
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Store keeps the captured lines of every service in size-rotated files, one per service,
// each written from a goroutine of its own. A child is never slowed down by the store: when
// the disk falls behind, lines are dropped and counted instead. Followers read the files.
type Store struct {
	opts    Options
	reader  *Reader
	seq     atomic.Uint64 // the last sequence number given, across services
	written broadcast     // a writer wrote (or lost) records

	mu        sync.Mutex // guards the fields below
	services  map[string]*serviceLog
	followers map[*Follower]struct{} // those following every service, new ones included
	closed    bool
	err       error         // the first error closing a file
	finished  chan struct{} // closed once Close has written everything out
}

// Open opens the store in opts.Dir, creating the directory if needed. Sequence numbers
// continue after the last line found on disk.
func Open(opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if opts.Dir == "" {
		return nil, errors.New("open log store: no directory")
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create log directory: %w", err)
	}
	reader := &Reader{dir: opts.Dir, limit: recordLimit(opts.MaxLineBytes)}
	var last uint64
	if err := reader.Read(Query{Last: 1}, func(l Line) bool { last = l.Seq; return false }); err != nil {
		return nil, fmt.Errorf("open log store: %w", err)
	}
	s := &Store{
		opts:      opts,
		reader:    reader,
		services:  make(map[string]*serviceLog),
		followers: make(map[*Follower]struct{}),
		finished:  make(chan struct{}),
	}
	s.seq.Store(last)
	return s, nil
}

// Capture reads r until EOF or an error, storing each line under service and stream. It
// calls watch (if not nil) with each raw line, valid only during the call, until watch
// returns true; the supervisor uses it to spot the child's ready line. Capture blocks: run
// it in a goroutine. It only ever waits on r, so the child never waits on the store.
func (s *Store) Capture(service string, stream Stream, r io.Reader, watch func(text []byte) bool) {
	growPipe(r)
	svc := s.service(service)
	if svc == nil { // closed: read on and discard
		io.Copy(io.Discard, r)
		return
	}
	c := capture{svc: svc, stream: stream, watch: watch, maxLine: s.opts.MaxLineBytes}
	c.run(r)
}

// Note stores a line of the supervisor's own about service, e.g. "started pid 42".
func (s *Store) Note(service, text string) {
	if len(text) > s.opts.MaxLineBytes {
		text = text[:s.opts.MaxLineBytes] + truncatedMarker(len(text)-s.opts.MaxLineBytes)
	}
	svc := s.service(service)
	if svc == nil {
		return
	}
	a := svc.begin(Supervisor, time.Now().UnixNano())
	a.line([]byte(text), 0, redact.AnyClue, true)
	a.end()
}

// service returns the named service, creating it, or nil once the store is closed.
func (s *Store) service(name string) *serviceLog {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	svc, ok := s.services[name]
	if !ok {
		svc = newServiceLog(s, name)
		s.services[name] = svc
		for f := range s.followers {
			f.add(svc)
		}
	}
	return svc
}

// Read calls yield with the stored lines q selects, ordered by Seq, until yield returns
// false. It first waits for what was captured before the call to reach the files, and
// leaves out what is captured after it. The files span supervisor restarts.
func (s *Store) Read(q Query, yield func(Line) bool) error {
	end := s.seq.Load() + 1
	s.flush()
	return s.reader.read(q, end, yield)
}

// Tail returns the newest n stored lines of services (all when empty; all lines when n is
// negative), ordered by Seq.
func (s *Store) Tail(services []string, n int) ([]Line, error) {
	if n == 0 {
		return nil, nil
	}
	var out []Line
	err := s.Read(Query{Services: services, Last: max(n, 0)}, func(l Line) bool {
		out = append(out, l)
		return true
	})
	return out, err
}

// watermark returns a Seq below which every line is in its file or lost: the lines of all
// services up to it are known, so followers of several services can order them.
func (s *Store) watermark() uint64 {
	svcs := s.serviceLogs()
	mark := s.seq.Load() + 1 // before the services: a line appended meanwhile is above it
	for _, svc := range svcs {
		if seq := svc.oldestUnwritten(); seq != 0 {
			mark = min(mark, seq)
		}
	}
	return mark
}

// flush waits until what was captured so far reached the files or was counted as lost.
func (s *Store) flush() {
	svcs := s.serviceLogs()
	for _, svc := range svcs {
		svc.flush()
	}
}

// Dropped returns how many lines of service never reached its file because the disk fell
// behind or failed.
func (s *Store) Dropped(service string) uint64 {
	s.mu.Lock()
	svc := s.services[service]
	s.mu.Unlock()
	if svc == nil {
		return 0
	}
	return svc.dropped.Load()
}

// FilePath returns the current log file of service.
func (s *Store) FilePath(service string) string {
	return filepath.Join(s.opts.Dir, fileName(service))
}

// closeErr keeps the first error closing a file, for Close to return.
func (s *Store) closeErr(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

// Close stops the store: it writes out what is queued, closes the files and ends every
// follower. Captures still running afterwards read on and discard what they read.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	svcs := s.serviceLogsLocked()
	s.mu.Unlock()
	for _, svc := range svcs {
		svc.close()
	}
	close(s.finished)
	s.written.notify()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// serviceLogs returns the services so far, to work on without holding s.mu.
func (s *Store) serviceLogs() []*serviceLog {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.serviceLogsLocked()
}

// serviceLogsLocked is serviceLogs with s.mu held.
func (s *Store) serviceLogsLocked() []*serviceLog {
	svcs := make([]*serviceLog, 0, len(s.services))
	for _, svc := range s.services {
		svcs = append(svcs, svc)
	}
	return svcs
}

// isFinished reports whether the store is closed and its files are complete.
func (s *Store) isFinished() bool {
	select {
	case <-s.finished:
		return true
	default:
		return false
	}
}
