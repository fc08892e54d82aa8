package logs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Query selects stored lines.
type Query struct {
	Services []string        // empty means every service
	Since    time.Time       // zero means from the oldest line kept
	Last     int             // when positive, only the newest Last of the lines selected
	Match    func(Line) bool // when set, only the lines it accepts
}

func (q *Query) selects(l Line) bool {
	return !l.Time.Before(q.Since) && (q.Match == nil || q.Match(l))
}

// Reader reads the log files of a directory. It never writes and takes no lock, so it works
// beside a Store writing there as well as when none runs: it reads each file as it was when
// opened, leaves out a record still being written and sees every file of a rotation that
// happens meanwhile.
type Reader struct {
	dir   string
	limit int // the longest record
}

// NewReader returns a reader of the files a Store with the default options keeps in dir.
func NewReader(dir string) *Reader {
	return &Reader{dir: dir, limit: recordLimit(Options{}.withDefaults().MaxLineBytes)}
}

// Services returns the services that have log files, sorted.
func (r *Reader) Services() ([]string, error) {
	files, err := logFiles(r.dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}

// Read calls yield with the stored lines q selects, ordered by Seq, until yield returns false.
// Malformed records are skipped.
func (r *Reader) Read(q Query, yield func(Line) bool) error {
	return r.read(q, math.MaxUint64, yield)
}

// read is Read of the lines before Seq end: those stored later are left out.
func (r *Reader) read(q Query, end uint64, yield func(Line) bool) error {
	files, err := logFiles(r.dir)
	if err != nil {
		return err
	}
	names := slices.Clone(q.Services)
	if len(names) == 0 {
		for base := range files {
			names = append(names, base)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)

	sources := make([]*source, 0, len(names))
	defer func() {
		for _, src := range sources {
			src.close()
		}
	}()
	for _, name := range names {
		rotated, listed := files[fileBase(name)]
		src := &source{r: r, q: &q, name: name, listed: listed, rotated: rotated, cut: end, reading: -1}
		sources = append(sources, src)
	}
	skip := 0
	if q.Last > 0 {
		total := 0
		for _, src := range sources {
			n, err := src.seekLast(q.Last)
			if err != nil {
				return err
			}
			total += n
		}
		skip = max(total-q.Last, 0)
	}
	return merge(sources, skip, yield)
}

// fileBase is the name of service's files without ".log".
func fileBase(service string) string { return strings.TrimSuffix(fileName(service), ".log") }

// merge yields the lines of the sources in Seq order, skipping the first skip of them and
// any line met twice.
func merge(sources []*source, skip int, yield func(Line) bool) error {
	heads := make([]Line, len(sources))
	live := make([]bool, len(sources))
	advance := func(i int) error {
		var err error
		heads[i], live[i], err = sources[i].next()
		return err
	}
	for i := range sources {
		if err := advance(i); err != nil {
			return err
		}
	}
	var last uint64
	started := false
	for {
		first := -1
		for i := range sources {
			if live[i] && (first < 0 || heads[i].Seq < heads[first].Seq) {
				first = i
			}
		}
		if first < 0 {
			return nil
		}
		if l := heads[first]; !started || l.Seq > last {
			started, last = true, l.Seq
			if skip > 0 {
				skip--
			} else if !yield(l) {
				return nil
			}
		}
		if err := advance(first); err != nil {
			return err
		}
	}
}

// source yields one service's stored lines in order: the records of its files, oldest file
// first.
type source struct {
	r       *Reader
	q       *Query
	name    string // the service, as its lines name it
	listed  bool   // whether it has files
	rotated int    // the highest rotation number among them
	cut     uint64 // the files are read only below this Seq

	opened  bool       // files holds what is to be read; opened on first use
	files   []openFile // oldest first
	file    int        // the file being read
	from    int64      // where reading starts in it
	lines   lineReader
	reading int // the file lines reads, -1 for none
}

// openFile is an open log file and its size when opened: what lies beyond was written later.
type openFile struct {
	f    *os.File
	size int64
}

// open opens the service's files. Should a rotation move the current file meanwhile, it
// opens them again, so that they are what the directory held at one moment. Files last
// written well before q.Since hold nothing that late and are left out; the slack covers the
// kernel's coarse file clock.
func (s *source) open() error {
	if s.opened {
		return nil
	}
	s.opened = true
	if !s.listed {
		return nil
	}
	path := filepath.Join(s.r.dir, fileName(s.name))
	for attempt := 1; ; attempt++ {
		current, err := s.openFiles(path)
		if err != nil || attempt == maxOpenAttempts || stillAt(path, current) {
			return err
		}
		s.close()
		s.files = nil
	}
}

// stillAt reports whether path still names the file current, or still none for nil.
func stillAt(path string, current os.FileInfo) bool {
	now, err := os.Stat(path)
	if current == nil {
		return errors.Is(err, os.ErrNotExist)
	}
	return err == nil && os.SameFile(current, now)
}

// maxOpenAttempts bounds how often open starts again after a rotation; rotations are far
// apart compared to opening a few files.
const maxOpenAttempts = 5

// openFiles opens the files at path, then path.1, path.2 … oldest last, skips any it meets
// twice, and puts them in order, oldest first. It returns what the file at path was.
func (s *source) openFiles(path string) (current os.FileInfo, err error) {
	var seen []os.FileInfo
	for n := 0; ; n++ {
		p := path
		if n > 0 {
			p = rotatedPath(path, n)
		}
		// Non-blocking, as a FIFO put in a file's place must not hang the reader.
		f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if errors.Is(err, os.ErrNotExist) {
			if n > s.rotated {
				break
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read log file: %w", err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("read log file: %w", err)
		}
		if n == 0 {
			current = st
		}
		if !st.Mode().IsRegular() || st.ModTime().Before(s.q.Since.Add(-time.Minute)) ||
			slices.ContainsFunc(seen, func(o os.FileInfo) bool { return os.SameFile(o, st) }) {
			f.Close()
			continue
		}
		seen = append(seen, st)
		s.files = append(s.files, openFile{f: f, size: st.Size()})
	}
	slices.Reverse(s.files)
	return current, nil
}

func (s *source) close() {
	for _, seg := range s.files {
		seg.f.Close()
	}
}

// record parses a line of the files and reports whether the query takes it from there.
func (s *source) record(b []byte) (Line, bool) {
	l, ok := parseRecord(b)
	if !ok || l.Seq >= s.cut {
		return Line{}, false
	}
	l.Service = s.name
	return l, s.q.selects(l)
}

// seekLast moves the start back from the end over the newest n lines the query selects, or
// to the oldest line, and returns how many lines it moved over.
func (s *source) seekLast(n int) (int, error) {
	count := 0
	if err := s.open(); err != nil {
		return 0, err
	}
	for i := len(s.files) - 1; i >= 0 && count < n; i-- {
		s.file, s.from = i, 0
		err := scanBack(s.files[i].f, s.files[i].size, s.r.limit, func(b []byte, off int64) bool {
			if _, ok := s.record(b); ok {
				if count++; count == n {
					s.from = off
				}
			}
			return count < n
		})
		if err != nil {
			return 0, err
		}
	}
	return count, nil
}

// next returns the source's next line that the query selects, and false after its last.
func (s *source) next() (Line, bool, error) {
	if err := s.open(); err != nil {
		return Line{}, false, err
	}
	for s.file < len(s.files) {
		if s.reading != s.file {
			s.lines.reset(s.files[s.file], s.from, s.r.limit)
			s.reading = s.file
		}
		b, err := s.lines.next()
		if errors.Is(err, io.EOF) {
			s.file, s.from = s.file+1, 0
			continue
		}
		if err != nil {
			return Line{}, false, err
		}
		if l, ok := s.record(b); ok {
			return l, true, nil
		}
	}
	return Line{}, false, nil
}

// lineReader reads the whole lines of a file from an offset up to its size when opened. It
// skips lines longer than a record, and what follows the last newline: a record still being
// written.
type lineReader struct{ br *bufio.Reader }

func (lr *lineReader) reset(seg openFile, from int64, limit int) {
	r := io.NewSectionReader(seg.f, from, seg.size-from)
	if lr.br == nil {
		lr.br = bufio.NewReaderSize(r, limit)
	} else {
		lr.br.Reset(r)
	}
}

// next returns the next line without its newline, valid until the following call, or io.EOF.
func (lr *lineReader) next() ([]byte, error) {
	for {
		b, err := lr.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			err = skipLine(lr.br)
			if err == nil {
				continue
			}
		}
		switch {
		case errors.Is(err, io.EOF):
			return nil, io.EOF
		case err != nil:
			return nil, fmt.Errorf("read log file: %w", err)
		}
		return b[:len(b)-1], nil
	}
}

// skipLine discards the rest of an over-long line.
func skipLine(r *bufio.Reader) error {
	for {
		_, err := r.ReadSlice('\n')
		if !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
	}
}

// scanBack calls fn with each whole line of r[:size] but its newline, and the line's offset,
// newest first, until fn returns false. It skips lines longer than limit and what follows
// the last newline.
func scanBack(r io.ReaderAt, size int64, limit int, fn func(line []byte, off int64) bool) error {
	buf := make([]byte, max(limit+1, 64<<10))
	end := size
	partial := true // the bytes just before end are the unfinished part of a line: skip them
	for end > 0 {
		start := max(end-int64(len(buf)), 0)
		b := buf[:end-start]
		n, err := r.ReadAt(b, start)
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read log file: %w", err)
		}
		if n < len(b) { // the file was cut short since it was opened
			b, partial = b[:n], true
		}
		if partial {
			i := bytes.LastIndexByte(b, '\n')
			if i < 0 {
				end = start
				continue
			}
			b, partial = b[:i+1], false
		}
		for len(b) > 0 {
			i := bytes.LastIndexByte(b[:len(b)-1], '\n')
			if i < 0 && start > 0 {
				break // the line begins before the window
			}
			if !fn(b[i+1:len(b)-1], start+int64(i+1)) {
				return nil
			}
			b = b[:i+1]
		}
		if len(b) == len(buf) { // one line fills the window: it is no record
			end, partial = start, true
		} else {
			end = start + int64(len(b))
		}
	}
	return nil
}
