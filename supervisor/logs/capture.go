package logs

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/palyra/palyra/internal/redact"
)

// readSize is the most read from a pipe at once. A child blocked on a full pipe waits about
// as long as one read takes to process, so reads stay well below the pipe's size.
const readSize = 128 << 10

// pipeSize is what a child's pipe is grown to: room for the child to write on while a read
// is processed. 1 MiB is the most an unprivileged process may ask by default.
const pipeSize = 1 << 20

// capture turns what one reader yields into records: one read, one append.
type capture struct {
	svc     *serviceLog
	stream  Stream
	watch   func([]byte) bool
	maxLine int
	clues   clueFinder
	lines   []capturedLine // the lines of the read being stored
}

// capturedLine is a line of a read: data[start:end], of which cut more bytes were dropped.
type capturedLine struct{ start, end, cut int }

func (c *capture) run(r io.Reader) {
	buf := make([]byte, c.maxLine+readSize)
	pending := 0 // buf[:pending] starts a line whose end has not been read yet
	cut := 0     // bytes of that line dropped beyond maxLine
	for {
		n, err := r.Read(buf[pending : pending+readSize])
		data := buf[:pending+n]
		lineStart := 0
		for scan := pending; ; {
			i := bytes.IndexByte(data[scan:], '\n')
			if i < 0 {
				break
			}
			c.lines = append(c.lines, capturedLine{lineStart, scan + i, cut})
			cut = 0
			lineStart = scan + i + 1
			scan = lineStart
		}
		rest := data[lineStart:]
		if len(rest) > c.maxLine {
			cut += len(rest) - c.maxLine
			rest = rest[:c.maxLine]
		}
		if err != nil && (len(rest) > 0 || cut > 0) {
			c.lines = append(c.lines, capturedLine{lineStart, lineStart + len(rest), cut})
		}
		c.store(data)
		pending = copy(buf, rest)
		if err != nil {
			return
		}
	}
}

// store appends the lines of one read to the service's records; they share a timestamp.
func (c *capture) store(data []byte) {
	if len(c.lines) == 0 {
		return
	}
	for _, l := range c.lines {
		if c.watch == nil {
			break
		}
		if c.watch(bytes.TrimSuffix(data[l.start:l.end], []byte{'\r'})) {
			c.watch = nil
		}
	}
	c.clues.reset(data)
	a := c.svc.begin(c.stream, time.Now().UnixNano())
	for _, l := range c.lines {
		line, cut := data[l.start:l.end], l.cut
		if len(line) > c.maxLine {
			cut += len(line) - c.maxLine
			line = line[:c.maxLine]
		}
		if cut == 0 {
			line = bytes.TrimSuffix(line, []byte{'\r'})
		}
		clues, level := c.clues.line(l.start, l.end)
		a.line(line, cut, clues, level)
	}
	a.end()
	c.lines = c.lines[:0]
}

// clueFinder tells, for each line of one read, which bytes redaction and the level parser
// look for it may hold. It searches the whole read for each byte once, rather than every
// line for each: most lines hold none, and one search over a read costs less than a search
// per line. Cleaning a line only removes bytes (or adds U+FFFD and spaces), so what the raw
// line lacks its clean text lacks too.
type clueFinder struct {
	data []byte
	next [len(clueBytes)]int // where each byte occurs next, at or after the last line's start
}

var clueBytes = [...]struct {
	b    byte
	clue redact.Clues // 0 for the level's clue
}{
	{'=', redact.ClueSeparator}, {':', redact.ClueSeparator},
	{'b', redact.ClueBearer}, {'B', redact.ClueBearer},
	{'k', redact.ClueToken}, {'K', redact.ClueToken},
	{'_', redact.ClueUnderscore},
	{'v', 0}, // every level key holds "level"
}

func (f *clueFinder) reset(data []byte) {
	f.data = data
	for i := range f.next {
		f.next[i] = -1
	}
}

// line returns the clues of data[start:end] and whether it may declare a level. Lines must
// come in order.
func (f *clueFinder) line(start, end int) (clues redact.Clues, level bool) {
	for i, cb := range clueBytes {
		n := f.next[i]
		if n < start {
			n = len(f.data)
			if j := bytes.IndexByte(f.data[start:], cb.b); j >= 0 {
				n = start + j
			}
			f.next[i] = n
		}
		if n < end {
			if cb.clue == 0 {
				level = true
			}
			clues |= cb.clue
		}
	}
	return clues, level
}

// growPipe makes room in the pipe r reads, when it is one, so that a child writes on while a
// read is processed. It is only a hint: a kernel that refuses keeps the default.
func growPipe(r io.Reader) {
	f, ok := r.(*os.File)
	if !ok {
		return
	}
	if rc, err := f.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { unix.FcntlInt(fd, unix.F_SETPIPE_SZ, pipeSize) })
	}
}

// appendTruncated appends the marker of a line cut by n bytes.
func appendTruncated(dst []byte, n int) []byte {
	dst = append(dst, " …[truncated "...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, " bytes]"...)
}

func truncatedMarker(n int) string { return string(appendTruncated(nil, n)) }
