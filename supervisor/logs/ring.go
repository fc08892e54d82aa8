package logs

// ring keeps the newest lines of one service within a line budget and a text-byte budget.
// It grows on demand up to maxLines, so a quiet service costs little.
type ring struct {
	lines    []Line // circular: the oldest line is at head
	head     int
	n        int
	bytes    int // sum of len(Text) over the lines held
	maxLines int
	maxBytes int
}

func (r *ring) push(batch []Line) {
	if len(batch) > r.maxLines {
		batch = batch[len(batch)-r.maxLines:]
	}
	for _, l := range batch {
		if r.n == len(r.lines) {
			if len(r.lines) < r.maxLines {
				r.grow()
			} else {
				r.evict()
			}
		}
		r.lines[(r.head+r.n)%len(r.lines)] = l
		r.n++
		r.bytes += len(l.Text)
		for r.bytes > r.maxBytes && r.n > 0 {
			r.evict()
		}
	}
}

func (r *ring) grow() {
	lines := make([]Line, min(max(2*len(r.lines), 64), r.maxLines))
	r.n = r.copyOut(lines, r.n)
	r.lines, r.head = lines, 0
}

// evict drops the oldest line, clearing its slot so its text can be freed.
func (r *ring) evict() {
	r.bytes -= len(r.lines[r.head].Text)
	r.lines[r.head] = Line{}
	r.head = (r.head + 1) % len(r.lines)
	r.n--
}

// appendLast appends the newest n lines (all when n < 0), oldest first.
func (r *ring) appendLast(dst []Line, n int) []Line {
	if n < 0 || n > r.n {
		n = r.n
	}
	start := len(dst)
	dst = append(dst, make([]Line, n)...)
	r.copyOut(dst[start:], n)
	return dst
}

// copyOut copies the newest n lines into dst, oldest first, and returns n.
func (r *ring) copyOut(dst []Line, n int) int {
	first := (r.head + r.n - n) % max(len(r.lines), 1)
	k := copy(dst[:n], r.lines[first:])
	copy(dst[k:n], r.lines)
	return n
}
