package host

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"

	"github.com/palyra/palyra/internal/textsafe"
)

// Bounds of what is kept of a plugin's crash.
const (
	crashLines    = 100
	crashBytes    = 16 << 10
	stderrLineMax = 8 << 10
)

// stderrLog turns a plugin's stderr into palyrad's log lines, one per line, and keeps the
// first lines of a Go panic or fatal error so the operator sees why the plugin died.
type stderrLog struct {
	log *slog.Logger

	mu      sync.Mutex
	partial []byte
	inCrash bool
	crash   []string
	size    int
}

func (s *stderrLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.partial = append(s.partial, p...)
			if len(s.partial) > stderrLineMax {
				s.line(s.partial)
				s.partial = s.partial[:0]
			}
			break
		}
		s.partial = append(s.partial, p[:i]...)
		s.line(s.partial)
		s.partial = s.partial[:0]
		p = p[i+1:]
	}
	return n, nil
}

func (s *stderrLog) line(b []byte) {
	text := textsafe.Clean(string(b))
	if strings.HasPrefix(text, "panic: ") || strings.HasPrefix(text, "fatal error: ") {
		s.inCrash, s.crash, s.size = true, nil, 0
	}
	if s.inCrash && len(s.crash) < crashLines && s.size+len(text) <= crashBytes {
		s.crash = append(s.crash, text)
		s.size += len(text)
	}
	if s.inCrash {
		s.log.Error("plugin stderr", "line", text)
		return
	}
	s.log.Info("plugin stderr", "line", text)
}

// takeCrash returns the crash trace seen since the last call, if any, and forgets it.
func (s *stderrLog) takeCrash() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	crash := s.crash
	s.inCrash, s.crash, s.size = false, nil, 0
	return crash
}
