package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/palyra/palyra/tui/keys"
)

// TestE2ETUIChannels is the operator's path through the Channels pane: add an Echo
// connector with `a`, test-send with `t` and see it delivered, send one Echo refuses and
// replay its dead letter with `r` from the detail, then allow a message delete that
// governance held back, in the Approvals pane.
func TestE2ETUIChannels(t *testing.T) {
	t.Parallel()
	km := keys.Default()
	s := newStack(t)
	tm := startTmux(t, s.env, 110, 32)
	tm.until("the preflight screen", func(sc string) bool { return strings.Contains(sc, "State directory") })
	tm.keys(press(km.Submit))
	tm.until("the daemon healthy", func(sc string) bool { return lineWith(sc, "daemon", "running", "healthy") != "" })

	tm.keys(press(km.Channels))
	tm.until("the empty pane", func(sc string) bool { return strings.Contains(sc, "No connectors yet") })
	tm.keys(press(km.AddConnector))
	tm.until("the kind field", func(sc string) bool { return strings.Contains(sc, "one of: discord, echo") })
	tm.keys("-l", "echo")
	tm.keys(press(km.Submit))
	tm.until("the name field", func(sc string) bool { return strings.Contains(sc, "its id becomes KIND:NAME") })
	tm.keys("-l", "tui")
	tm.keys(press(km.Submit)) // name
	tm.until("echo's settings", func(sc string) bool { return lineWith(sc, "▸ Reflect") != "" })
	tm.keys(press(km.Submit)) // reflect
	tm.until("the ledger field", func(sc string) bool { return lineWith(sc, "▸ Ledger file") != "" })
	tm.keys(press(km.Submit)) // ledger: the form is done
	tm.until("echo:tui ready", func(sc string) bool { return lineWith(sc, "echo:tui", "enabled", "ready", "pid") != "" })

	tm.keys(press(km.TestSend))
	tm.until("the test-send form", func(sc string) bool { return strings.Contains(sc, "Test send through echo:tui") })
	tm.keys(press(km.Submit)) // conversation: general
	tm.keys(press(km.Submit)) // text: the default
	delivered := func(n int) func(string) bool {
		return func(sc string) bool {
			cols := strings.Fields(lineWith(sc, "echo:tui", "ready"))
			// CONNECTOR STATE READINESS PLUGIN(pid N) QUEUE DELIVERED …
			return len(cols) > 7 && cols[7] == fmt.Sprint(n)
		}
	}
	tm.until("the test message delivered", delivered(1))

	tm.keys(press(km.TestSend))
	tm.until("the test-send form", func(sc string) bool { return strings.Contains(sc, "Test send through echo:tui") })
	tm.keys(press(km.Submit))
	tm.until("the text field", func(sc string) bool { return lineWith(sc, "▸ text") != "" })
	tm.keys("C-u")
	tm.keys("-l", "[nack] refused")
	tm.keys(press(km.Submit))
	tm.until("a dead letter", func(sc string) bool { return strings.Contains(sc, "1 dead letter") })
	tm.keys(press(km.Detail))
	tm.until("the dead letter in the detail", func(sc string) bool { return lineWith(sc, "▸ #", "[nack] refused") != "" })
	tm.keys(press(km.Replay))
	tm.until("the replay done", func(sc string) bool { return strings.Contains(sc, "replayed dead letter") })
	tm.until("the replay logged", func(sc string) bool { return strings.Contains(sc, "dead_letter.replayed") })

	var read []messageJSON
	s.runJSON(&read, "channels", "read", "echo:tui", "general", "--json")
	if len(read) != 1 {
		t.Fatalf("read --json: %+v, want the test message", read)
	}
	out := s.must("channels", "delete", "echo:tui", "general", read[0].ID)
	if !strings.Contains(out, "held for approval") {
		t.Fatalf("delete: %q", out)
	}
	tm.keys(press(km.Back))
	tm.until("the list again", func(sc string) bool { return strings.Contains(sc, "CONNECTOR") })
	tm.keys(press(km.Approvals))
	tm.until("the held delete", func(sc string) bool { return strings.Contains(sc, "deleting a channel message") })
	tm.keys(press(km.AllowOnce))
	tm.until("the delete allowed", func(sc string) bool { return strings.Contains(sc, "no pending approvals") })
	tm.keys(press(km.Channels))
	tm.keys(press(km.Detail))
	tm.until("the delete run", func(sc string) bool { return lineWith(sc, "message.delete ", read[0].ID, "done") != "" })
}
