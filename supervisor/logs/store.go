package logs

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palyra/palyra/internal/redact"
	"github.com/palyra/palyra/internal/textsafe"
)

// Options configures a Store. Zero values take the defaults.
type Options struct {
	Dir          string // created 0700 if missing; files are 0600
	RingLines    int    // lines kept in memory per service; default 10000
	RingBytes    int    // text bytes kept in memory per service; default 8 MiB
	MaxLineBytes int    // bytes kept of a longer line, which is marked as cut; default 64 KiB
	FileMaxBytes int64  // a file is rotated before it grows past this; default 16 MiB
	FileKeep     int    // rotated files kept per service; default 3, negative keeps none
	Logger       *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.RingLines <= 0 {
		o.RingLines = 10000
	}
	if o.RingBytes <= 0 {
		o.RingBytes = 8 << 20
	}
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
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Store keeps the captured lines of every service: the newest in memory, all of them (up to
// the rotation limit) on disk. A child is never slowed down by the store: when the disk or
// a subscriber falls behind, lines are dropped and counted instead.
type Store struct {
	opts   Options
	disk   *diskWriter
	reader *Reader

	mu       sync.Mutex // guards the fields below and orders lines across services
	seq      uint64
	services map[string]*service
	subs     map[*Subscription]struct{}
	closed   bool
}

// service is one service's share of the store.
type service struct {
	name    string
	path    string
	ring    ring
	dropped atomic.Uint64 // lines that never reached the file
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
		opts:     opts,
		reader:   reader,
		seq:      last,
		services: make(map[string]*service),
		subs:     make(map[*Subscription]struct{}),
	}
	s.disk = newDiskWriter(opts, s.Note)
	go s.disk.run()
	return s, nil
}

// Capture reads r until EOF or an error, storing each line under service and stream. It
// calls watch (if not nil) with each raw line, valid only during the call, until watch
// returns true; the supervisor uses it to spot the child's ready line. Capture blocks: run
// it in a goroutine. It only ever waits on r, so the child never waits on the store.
func (s *Store) Capture(service string, stream Stream, r io.Reader, watch func(text []byte) bool) {
	c := capture{store: s, service: service, stream: stream, watch: watch, maxLine: s.opts.MaxLineBytes}
	c.run(r)
}

// Note stores a line of the supervisor's own about service, e.g. "started pid 42".
func (s *Store) Note(service, text string) {
	if len(text) > s.opts.MaxLineBytes {
		text = text[:s.opts.MaxLineBytes] + truncatedMarker(len(text)-s.opts.MaxLineBytes)
	}
	t := redact.Line(textsafe.Clean(text))
	s.publish(service, []Line{{Service: service, Stream: Supervisor, Level: parseLevel(t), Text: t}})
}

// publish numbers and timestamps lines, all from one service, and hands them to the ring,
// the subscribers and the disk writer. Nothing in here waits.
func (s *Store) publish(name string, lines []Line) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	svc := s.service(name)
	for i := range lines {
		s.seq++
		lines[i].Seq = s.seq
		lines[i].Time = now
	}
	svc.ring.push(lines)
	for sub := range s.subs {
		sub.offer(name, lines)
	}
	if !s.disk.enqueue(svc, lines) {
		svc.dropped.Add(uint64(len(lines)))
	}
}

// service returns the named service, creating it. s.mu must be held.
func (s *Store) service(name string) *service {
	svc, ok := s.services[name]
	if !ok {
		svc = &service{
			name: name,
			path: s.FilePath(name),
			ring: ring{maxLines: s.opts.RingLines, maxBytes: s.opts.RingBytes},
		}
		s.services[name] = svc
	}
	return svc
}

// Tail returns the newest n lines in memory across services (all services when services
// is empty), ordered by Seq. A negative n returns all of them.
func (s *Store) Tail(services []string, n int) []Line {
	if n == 0 {
		return nil
	}
	s.mu.Lock()
	var out []Line
	for name, svc := range s.services {
		if len(services) == 0 || slices.Contains(services, name) {
			out = svc.ring.appendLast(out, n)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Line) int { return compareSeq(a.Seq, b.Seq) })
	if n > 0 && len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

func compareSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Read calls yield with the stored lines q selects, ordered by Seq, until yield returns
// false: the lines in memory and, before them, the lines in the files, which span
// supervisor restarts. Lines the disk lost are still found while memory holds them.
func (s *Store) Read(q Query, yield func(Line) bool) error {
	memory := held{lines: make(map[string][]Line)}
	s.mu.Lock()
	for name, svc := range s.services {
		if len(q.Services) == 0 || slices.Contains(q.Services, name) {
			memory.lines[name] = svc.ring.appendLast(nil, -1)
		}
	}
	memory.end = s.seq + 1
	s.mu.Unlock()
	// Whatever memory no longer held is then in the files.
	s.disk.flush()
	return s.reader.read(q, memory, yield)
}

// Subscribe returns a subscription to the new lines of services (all when empty). Its
// channel holds up to buffer batches; when it is full, batches are dropped and counted.
func (s *Store) Subscribe(services []string, buffer int) *Subscription {
	sub := &Subscription{store: s, c: make(chan []Line, max(buffer, 1))}
	if len(services) > 0 {
		sub.services = make(map[string]bool, len(services))
		for _, name := range services {
			sub.services[name] = true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		close(sub.c)
		return sub
	}
	s.subs[sub] = struct{}{}
	return sub
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

// Close stops the store: it ends every subscription, writes out what is queued and closes
// the files. Captures still running afterwards read on and discard what they read.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for sub := range s.subs {
		close(sub.c)
	}
	clear(s.subs)
	close(s.disk.queue)
	s.mu.Unlock()
	<-s.disk.done
	return s.disk.err
}
