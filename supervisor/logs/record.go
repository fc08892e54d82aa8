package logs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/palyra/palyra/internal/textsafe"
)

// A log file holds one record per line:
//
//	<unix nanoseconds>\t<seq>\t<stream>\t<level>\t<text>\n
//
// Text never holds a tab or a newline: it was cleaned before storage. The service is the
// file's name. The sequence number is kept so that stored and live lines can be told apart.

// appendRecord appends l as a record.
func appendRecord(dst []byte, l Line) []byte {
	dst = strconv.AppendInt(dst, l.Time.UnixNano(), 10)
	dst = append(dst, '\t')
	dst = strconv.AppendUint(dst, l.Seq, 10)
	dst = append(dst, '\t')
	dst = append(dst, l.Stream...)
	dst = append(dst, '\t')
	dst = append(dst, l.Level...)
	dst = append(dst, '\t')
	dst = append(dst, l.Text...)
	return append(dst, '\n')
}

// parseRecord parses a record without its newline. It rejects anything it did not write,
// and cleans the text again in case the file was edited. Service is left empty.
//
// A record whose end never reached the file (the disk filled up, the writer was killed)
// may have the next record glued to it. Text holds no tab, so the last four tabs of a line
// are always those of its last record's header: parseRecord reads that record and drops the
// torn rest before it.
func parseRecord(b []byte) (Line, bool) {
	b = b[recordStart(b):]
	var fields [4][]byte
	for i := range fields {
		j := bytes.IndexByte(b, '\t')
		if j < 0 {
			return Line{}, false
		}
		fields[i], b = b[:j], b[j+1:]
	}
	nanos, ok := parseUint(fields[0])
	if !ok || nanos > math.MaxInt64 {
		return Line{}, false
	}
	seq, ok := parseUint(fields[1])
	if !ok {
		return Line{}, false
	}
	stream, ok := knownStream(fields[2])
	if !ok {
		return Line{}, false
	}
	level, ok := knownLevel(fields[3])
	if !ok || bytes.IndexByte(b, '\t') >= 0 {
		return Line{}, false
	}
	return Line{
		Seq:    seq,
		Time:   time.Unix(0, int64(nanos)),
		Stream: stream,
		Level:  level,
		Text:   textsafe.Clean(string(b)),
	}, true
}

// timeDigits is the width of a record's time: unix nanoseconds have 19 digits from 2001 to 2286.
const timeDigits = 19

// recordStart returns where the last record in b begins: 0 for a line that is one record,
// later when a torn record precedes it. That record's time is the timeDigits digits before
// the fourth tab from the end (torn text may end in digits too); a line in which they are not
// found is read from its start, and rejected if it holds more than one record.
func recordStart(b []byte) int {
	tab := len(b)
	for range 4 {
		if tab = bytes.LastIndexByte(b[:tab], '\t'); tab < 0 {
			return 0
		}
	}
	start := tab
	for start > 0 && tab-start < timeDigits && b[start-1] >= '0' && b[start-1] <= '9' {
		start--
	}
	if tab-start < timeDigits {
		return 0
	}
	return start
}

// parseUint parses decimal digits, rejecting signs, spaces and overflow.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

func knownStream(b []byte) (Stream, bool) {
	for _, s := range []Stream{Stdout, Stderr, Supervisor} {
		if string(b) == string(s) {
			return s, true
		}
	}
	return "", false
}

func knownLevel(b []byte) (string, bool) {
	for _, l := range []string{"", "debug", "info", "warn", "error"} {
		if string(b) == l {
			return l, true
		}
	}
	return "", false
}

// recordLimit bounds a record's length: cleaning can triple a line (each invalid byte
// becomes U+FFFD) and the header and cut marker add a little.
func recordLimit(maxLine int) int { return 3*maxLine + 256 }

// Since returns the lines of services (all when empty) stored on disk at or after t,
// rotated files included, ordered by Seq. It works across supervisor restarts; malformed
// records are skipped.
func (s *Store) Since(services []string, t time.Time) ([]Line, error) {
	s.disk.flush()
	files, err := logFiles(s.opts.Dir)
	if err != nil {
		return nil, err
	}
	if len(services) == 0 {
		for name := range files {
			services = append(services, name)
		}
	}
	limit := recordLimit(s.opts.MaxLineBytes)
	var out []Line
	for _, name := range services {
		for _, path := range files[strings.TrimSuffix(fileName(name), ".log")] {
			if out, err = readRecords(out, path, name, t, limit); err != nil {
				return nil, err
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Line) int { return compareSeq(a.Seq, b.Seq) })
	// A rotation while reading can show a file twice, under both its names.
	return slices.CompactFunc(out, func(a, b Line) bool { return a.Seq == b.Seq }), nil
}

// readRecords appends the records of the file at path dated t or later.
func readRecords(dst []Line, path, service string, t time.Time, limit int) ([]Line, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return dst, nil // rotated away meanwhile
	}
	if err != nil {
		return dst, fmt.Errorf("read log file: %w", err)
	}
	defer f.Close()
	// A file is written after the lines it holds were captured, so one last modified well
	// before t holds nothing that late. The slack covers the kernel's coarse file clock.
	if st, err := f.Stat(); err == nil && st.ModTime().Before(t.Add(-time.Minute)) {
		return dst, nil
	}
	from := int64(math.MinInt64) // UnixNano is undefined for the zero time
	if t.After(time.Unix(0, 0)) {
		from = t.UnixNano()
	}
	r := bufio.NewReaderSize(f, limit)
	for {
		b, err := r.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			if err := skipLine(r); err != nil {
				return dst, nil
			}
			continue
		case errors.Is(err, io.EOF):
			return dst, nil // a record without its newline is still being written
		case err != nil:
			return dst, fmt.Errorf("read log file: %w", err)
		}
		b = b[:len(b)-1]
		if nanos, ok := parseUint(b[:max(bytes.IndexByte(b, '\t'), 0)]); !ok || int64(nanos) < from {
			continue
		}
		if l, ok := parseRecord(b); ok {
			l.Service = service
			dst = append(dst, l)
		}
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

// lastSeq returns the sequence number of the newest record in files (oldest first), or 0.
func lastSeq(files []string, limit int) uint64 {
	for i := len(files) - 1; i >= 0; i-- {
		if seq, ok := lastSeqIn(files[i], limit); ok {
			return seq
		}
	}
	return 0
}

func lastSeqIn(path string, limit int) (uint64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, false
	}
	off := max(st.Size()-int64(2*limit), 0)
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return 0, false
	}
	if off > 0 {
		// The chunk starts inside a record; skip to the next whole one.
		buf = buf[bytes.IndexByte(buf, '\n')+1:]
	}
	// Only records that end with a newline are whole.
	for end := bytes.LastIndexByte(buf, '\n'); end >= 0; end = bytes.LastIndexByte(buf, '\n') {
		buf = buf[:end]
		if l, ok := parseRecord(buf[bytes.LastIndexByte(buf, '\n')+1:]); ok {
			return l.Seq, true
		}
	}
	return 0, false
}
