package e2e

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	pinOnScreen      = regexp.MustCompile(`code\s+(\d{3}) (\d{3})`)
	nodeAddrOnScreen = regexp.MustCompile(`node addr\s+(\S+)`)
)

// TestE2ETUIPairing is the operator's whole path through the UI: mint a code with `p`, pair
// a real palyra-node with it, allow the request with `a`, see the device trusted and online,
// invoke system.health with `i`, and revoke it with `x`, after which the node is refused.
func TestE2ETUIPairing(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	tm := startTmux(t, s.env, 100, 32)
	tm.until("the preflight screen", func(sc string) bool { return strings.Contains(sc, "State directory") })
	tm.keys("Enter")
	tm.until("the daemon healthy", func(sc string) bool { return lineWith(sc, "daemon", "running", "healthy") != "" })

	tm.keys("2")
	tm.until("the empty inventory", func(sc string) bool { return strings.Contains(sc, "p pair") })
	tm.keys("p")
	sc := tm.until("a pairing code", func(sc string) bool {
		return pinOnScreen.MatchString(sc) && nodeAddrOnScreen.MatchString(sc)
	})
	pin := pinOnScreen.FindStringSubmatch(sc)
	code := pin[1] + pin[2]
	addr := nodeAddrOnScreen.FindStringSubmatch(sc)[1]

	home := filepath.Join(s.home, "nodes", "kiosk")
	pairing := s.startNode(home, []string{"PALYRA_PAIR_CODE=" + code}, "pair", "--gateway", addr, "--name", "kiosk")
	tm.until("the pending badge", func(sc string) bool { return strings.Contains(sc, "1 pending") })
	tm.keys("Escape")
	time.Sleep(200 * time.Millisecond) // a lone Escape, not Alt+3
	tm.keys("3")
	tm.until("the pairing approval", func(sc string) bool { return strings.Contains(sc, "Pair device kiosk") })
	tm.keys("a")
	if code := pairing.wait(t, "pair after `a`"); code != 0 {
		t.Fatalf("palyra-node pair exit %d\n%s", code, pairing.stderr)
	}

	run := s.startNode(home, nil, "run", "--mediation", "deny", "--opener", "true")
	tm.keys("2")
	tm.until("kiosk trusted and online", func(sc string) bool { return lineWith(sc, "kiosk", "trusted", "online", "4/4") != "" })

	tm.keys("i")
	tm.until("the capability prompt", func(sc string) bool { return strings.Contains(sc, "capability: system.health") })
	tm.keys("Enter")
	tm.until("the input prompt", func(sc string) bool { return strings.Contains(sc, "input (JSON)") })
	tm.keys("Enter")
	tm.until("the call's result", func(sc string) bool {
		return lineWith(sc, "state", "succeeded") != "" && strings.Contains(sc, `"uptime_seconds"`)
	})

	tm.keys("Escape")
	time.Sleep(200 * time.Millisecond)
	tm.keys("x")
	tm.until("the reason prompt", func(sc string) bool { return strings.Contains(sc, "reason:") })
	tm.keys("Enter")
	tm.until("the confirmation", func(sc string) bool { return strings.Contains(sc, "y/n") })
	tm.keys("y")
	tm.until("kiosk revoked", func(sc string) bool { return lineWith(sc, "kiosk", "revoked") != "" })
	if code := run.wait(t, "run after revocation in the UI"); code != 1 || !strings.Contains(run.stderr.String(), "revoked") {
		t.Fatalf("revoked node: exit %d\n%s", code, run.stderr)
	}
}
