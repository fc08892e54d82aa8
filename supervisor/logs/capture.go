package logs

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/palyra/palyra/internal/redact"
	"github.com/palyra/palyra/internal/textsafe"
)

// readSize is the most read from a pipe at once. A child blocked on a full pipe waits about
// as long as one read takes to process, so reads stay well below the pipe's size.
const readSize = 128 << 10

// pipeSize is what a child's pipe is grown to: room for the child to write on while a read
// is processed. 1 MiB is the most an unprivileged process may ask by default.
const pipeSize = 1 << 20

// capture turns what one reader yields into batches of records: one read, one batch.
type capture struct {
	svc     *serviceLog
	stream  Stream
	watch   func([]byte) bool
	maxLine int
	batch   batch
}

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
			c.add(data[lineStart:scan+i], cut)
			cut = 0
			lineStart = scan + i + 1
			scan = lineStart
		}
		rest := data[lineStart:]
		if len(rest) > c.maxLine {
			cut += len(rest) - c.maxLine
			rest = rest[:c.maxLine]
		}
		pending = copy(buf, rest)
		if err != nil {
			if pending > 0 || cut > 0 {
				c.add(buf[:pending], cut)
			}
			c.flush()
			return
		}
		c.flush()
	}
}

// add appends one line, of which cut more bytes were dropped, to the batch: cleaned,
// redacted and with its level.
func (c *capture) add(line []byte, cut int) {
	if len(line) > c.maxLine {
		cut += len(line) - c.maxLine
		line = line[:c.maxLine]
	}
	if cut == 0 {
		line = bytes.TrimSuffix(line, []byte{'\r'})
	}
	if c.watch != nil && c.watch(line) {
		c.watch = nil
	}
	b := &c.batch
	start := len(b.text)
	b.text = textsafe.Append(b.text, line)
	if cut > 0 {
		b.text = appendTruncated(b.text, cut)
	}
	// The text is looked at in place; redact.Line returns it as is unless it hides something.
	text := unsafe.String(unsafe.SliceData(b.text[start:]), len(b.text)-start)
	if red := redact.Line(text); unsafe.StringData(red) != unsafe.StringData(text) || len(red) != len(text) {
		b.text = append(b.text[:start], red...)
		text = red
	}
	b.levels = append(b.levels, parseLevel(text))
	b.ends = append(b.ends, len(b.text))
}

// flush stores the batch; its lines share one timestamp.
func (c *capture) flush() {
	if len(c.batch.ends) == 0 {
		return
	}
	c.svc.append(c.stream, &c.batch, time.Now().UnixNano())
	c.batch.reset()
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
