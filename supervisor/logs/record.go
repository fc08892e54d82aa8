package logs

import (
	"bytes"
	"math"
	"strconv"
	"time"

	"github.com/palyra/palyra/internal/textsafe"
)

// A log file holds one record per line:
//
//	<unix nanoseconds>\t<seq>\t<stream>\t<level>\t<text>\n
//
// Text never holds a tab or a newline: it was cleaned before storage. The service is the
// file's name. The sequence number is kept so that stored and live lines can be told apart.

// appendRecordParts appends a record of a time already formatted.
func appendRecordParts(dst, nanos []byte, seq uint64, stream Stream, level string, text []byte) []byte {
	dst = append(dst, nanos...)
	dst = append(dst, '\t')
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, '\t')
	dst = append(dst, stream...)
	dst = append(dst, '\t')
	dst = append(dst, level...)
	dst = append(dst, '\t')
	dst = append(dst, text...)
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
	l, text, ok := parseHeader(b)
	if !ok {
		return Line{}, false
	}
	l.Text = textsafe.Clean(string(text))
	return l, true
}

// parseHeader parses a record as parseRecord does, returning its text uncleaned.
func parseHeader(b []byte) (Line, []byte, bool) {
	b = b[recordStart(b):]
	var fields [4][]byte
	for i := range fields {
		j := bytes.IndexByte(b, '\t')
		if j < 0 {
			return Line{}, nil, false
		}
		fields[i], b = b[:j], b[j+1:]
	}
	nanos, ok := parseUint(fields[0])
	if !ok || nanos > math.MaxInt64 {
		return Line{}, nil, false
	}
	seq, ok := parseUint(fields[1])
	if !ok {
		return Line{}, nil, false
	}
	stream, ok := knownStream(fields[2])
	if !ok {
		return Line{}, nil, false
	}
	level, ok := knownLevel(fields[3])
	if !ok || bytes.IndexByte(b, '\t') >= 0 {
		return Line{}, nil, false
	}
	return Line{Seq: seq, Time: time.Unix(0, int64(nanos)), Stream: stream, Level: level}, b, true
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

// AppendLines parses the records of b and appends them as lines to dst; their texts share
// one string. Records it did not write are left out.
func AppendLines(dst []Line, b Block) []Line {
	all := string(b.Records)
	eachRecord(b.Records, func(rec []byte, off int) {
		if l, text, ok := parseHeader(rec); ok {
			start := off + len(rec) - len(text)
			l.Service = b.Service
			l.Text = textsafe.Clean(all[start : start+len(text)])
			dst = append(dst, l)
		}
	})
	return dst
}

// FilterRecords returns the records of b whose lines keep accepts, in a new slice.
func FilterRecords(b Block, keep func(Line) bool) []byte {
	var out []byte
	eachRecord(b.Records, func(rec []byte, _ int) {
		if l, ok := parseRecord(rec); ok {
			l.Service = b.Service
			if keep(l) {
				out = append(append(out, rec...), '\n')
			}
		}
	})
	return out
}

// eachRecord calls fn with each line of b without its newline, and where it starts.
func eachRecord(b []byte, fn func(rec []byte, off int)) {
	for off := 0; off < len(b); {
		i := bytes.IndexByte(b[off:], '\n')
		if i < 0 {
			i = len(b) - off
		}
		fn(b[off:off+i], off)
		off += i + 1
	}
}
