package e2e

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"charm.land/bubbles/v2/key"

	"github.com/palyra/palyra/tui/keys"
)

// press turns a binding of the real key map into tmux key names, so rebinding never breaks
// a scenario.
func press(b key.Binding) string {
	k := b.Keys()[0]
	switch k {
	case "enter":
		return "Enter"
	case "esc":
		return "Escape"
	case "tab":
		return "Tab"
	}
	return k
}

var restartsCol = regexp.MustCompile(`^\s*▸?\s*daemon\s+running\s+healthy\s+\d+\s+\S+\s+\S+\s+(\d+)\s`)

func daemonRestarts(screen string) int {
	m := restartsCol.FindStringSubmatch(lineWith(screen, "daemon", "running", "healthy"))
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestE2ETUI: an operator opens the UI on a fresh state directory, sees both services
// healthy, restarts the daemon with its key, filters the logs, quits, and finds the stack
// still running.
func TestE2ETUI(t *testing.T) {
	t.Parallel()
	km := keys.Default()
	s := newStack(t)
	tm := startTmux(t, s.env, 100, 30)

	// A fresh state directory shows the preflight results first.
	tm.until("the preflight screen", func(sc string) bool {
		return strings.Contains(sc, "State directory") && strings.Contains(sc, "ok")
	})
	tm.keys(press(km.Submit))

	tm.until("both services running and healthy", func(sc string) bool {
		return lineWith(sc, "daemon", "running", "healthy") != "" &&
			lineWith(sc, "browserd", "running", "healthy") != "" && daemonRestarts(sc) == 0
	})

	// The daemon is the selected first row.
	tm.keys(press(km.Restart))
	tm.until("the daemon's restart count at 1", func(sc string) bool { return daemonRestarts(sc) == 1 })

	tm.keys(press(km.Logs))
	tm.until("the logs pane", func(sc string) bool { return strings.Contains(sc, "following") })
	tm.keys(press(km.Filter))
	tm.keys("-l", "stopping")
	tm.keys(press(km.Submit))
	sc := tm.until("only the matching lines", func(sc string) bool {
		return strings.Contains(sc, "(SIGTERM)") && !strings.Contains(sc, "health: healthy")
	})
	if strings.Contains(sc, "ready admin=") {
		t.Fatalf("filter left other lines on screen:\n%s", sc)
	}

	tm.keys(press(km.Quit))
	tm.until("the UI to exit", func(sc string) bool { return !strings.Contains(sc, "Logs") })

	st, code := s.status()
	if code != 0 || !healthy(st) {
		t.Fatalf("after quitting the UI: exit %d, status %+v", code, st)
	}
	if d := st.Services[service(st, "daemon")]; d.Restarts != 1 {
		t.Fatalf("daemon restarts %d, want 1", d.Restarts)
	}
}
