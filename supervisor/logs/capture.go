package logs

import (
	"bytes"
	"io"
	"strconv"

	"github.com/palyra/palyra/internal/redact"
	"github.com/palyra/palyra/internal/textsafe"
)

// readSize is the most read from a pipe at once, the pipe buffer size on Linux.
const readSize = 64 << 10

// capture turns what one reader yields into batches of lines: one read, one batch.
type capture struct {
	store   *Store
	service string
	stream  Stream
	watch   func([]byte) bool
	maxLine int

	text []byte // the cleaned text of the batch's lines, back to back
	ends []int  // where each line's text ends in text
}

func (c *capture) run(r io.Reader) {
	buf := make([]byte, c.maxLine+readSize)
	pending := 0 // buf[:pending] starts a line whose end has not been read yet
	cut := 0     // bytes of that line dropped beyond maxLine
	for {
		n, err := r.Read(buf[pending:])
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

// add appends one line, of which cut more bytes were dropped, to the batch.
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
	c.text = textsafe.Append(c.text, line)
	if cut > 0 {
		c.text = appendTruncated(c.text, cut)
	}
	c.ends = append(c.ends, len(c.text))
}

// flush publishes the batch. All its texts share one string, one allocation per batch.
func (c *capture) flush() {
	if len(c.ends) == 0 {
		return
	}
	text := string(c.text)
	lines := make([]Line, len(c.ends))
	start := 0
	for i, end := range c.ends {
		t := redact.Line(text[start:end])
		lines[i] = Line{Service: c.service, Stream: c.stream, Level: parseLevel(t), Text: t}
		start = end
	}
	c.text, c.ends = c.text[:0], c.ends[:0]
	c.store.publish(c.service, lines)
}

// appendTruncated appends the marker of a line cut by n bytes.
func appendTruncated(dst []byte, n int) []byte {
	dst = append(dst, " …[truncated "...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, " bytes]"...)
}

func truncatedMarker(n int) string { return string(appendTruncated(nil, n)) }
