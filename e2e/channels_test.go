package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

type connectorJSON struct {
	ID        string `json:"id"`
	Readiness string `json:"readiness"`
	Detail    string `json:"detail"`
	Plugin    struct {
		PID       int    `json:"pid"`
		Restarts  int    `json:"restarts"`
		State     string `json:"state"`
		LastError string `json:"last_error"`
	} `json:"plugin"`
	Queued      int    `json:"queued"`
	DeadLetters int    `json:"dead_letters"`
	Delivered   int    `json:"delivered"`
	LastError   string `json:"last_error"`
}

type messageJSON struct {
	ID          string `json:"id"`
	Text        string `json:"text"`
	ByConnector bool   `json:"by_connector"`
}

// waitConnector polls `channels show --json` until ok says yes.
func (s *stackEnv) waitConnector(id, what string, ok func(connectorJSON) bool) connectorJSON {
	s.t.Helper()
	var c connectorJSON
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		s.runJSON(&c, "channels", "show", id, "--json")
		if ok(c) {
			return c
		}
	}
	s.t.Fatalf("timed out waiting for %s: %+v", what, c)
	return c
}

func (s *stackEnv) must(args ...string) string {
	s.t.Helper()
	out, errOut, code := s.run(args...)
	if code != 0 {
		s.t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
	}
	return out
}

// TestE2EChannelsHeadless is an operator's path through the channels commands on a real
// stack: add an Echo connector, send to it, read the conversation back, see a refused
// message dead-lettered and replay it, kill -9 the plugin mid-way, delete a message through
// an approval, take an inbound message into the inbox, and bring a Discord connector from
// missing_credential to trying by setting its secret.
func TestE2EChannelsHeadless(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.must("services", "start", "all")
	s.waitStatus("stack healthy", healthy)

	ledger := filepath.Join(s.home, "echo-ledger")
	if out := s.must("channels", "add", "echo:ops", "--set", "ledger="+ledger); !strings.Contains(out, "echo:ops added") {
		t.Fatalf("channels add: %q", out)
	}
	first := s.waitConnector("echo:ops", "echo ready", func(c connectorJSON) bool { return c.Readiness == "ready" && c.Plugin.PID > 0 })

	for i := range 5 {
		s.must("channels", "send", "echo:ops", "room-1", fmt.Sprintf("hello %d", i))
	}
	s.waitConnector("echo:ops", "five delivered", func(c connectorJSON) bool { return c.Delivered == 5 })

	var read []messageJSON
	s.runJSON(&read, "channels", "read", "echo:ops", "room-1", "--json")
	var texts []string
	for _, m := range read {
		texts = append(texts, m.Text)
	}
	want := []string{"hello 0", "hello 1", "hello 2", "hello 3", "hello 4"}
	if !slices.Equal(texts, want) {
		t.Fatalf("read --json: %v, want %v, oldest first", texts, want)
	}
	// The plugin is killed; the next messages go through its successor.
	if err := syscall.Kill(first.Plugin.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for i := 5; i < 8; i++ {
		s.must("channels", "send", "echo:ops", "room-1", fmt.Sprintf("hello %d", i))
	}
	back := s.waitConnector("echo:ops", "delivered through a new plugin", func(c connectorJSON) bool {
		return c.Delivered == 8 && c.Plugin.PID != first.Plugin.PID && c.Plugin.Restarts >= 1
	})
	if back.Readiness != "ready" {
		t.Fatalf("after the plugin's restart: %+v", back)
	}

	// Each message reached the provider once, through the kill.
	b, err := os.ReadFile(ledger)
	if err != nil {
		t.Fatal(err)
	}
	if keys := strings.Fields(string(b)); len(keys) != 8 || len(slices.Compact(slices.Sorted(slices.Values(keys)))) != 8 {
		t.Fatalf("the provider's ledger holds %d keys, want 8 distinct:\n%s", len(keys), b)
	}

	// A message the provider refuses is a dead letter; replaying it tries again.
	s.must("channels", "send", "echo:ops", "room-2", "[nack] refused")
	s.waitConnector("echo:ops", "a dead letter", func(c connectorJSON) bool { return c.DeadLetters == 1 })
	var dead []struct {
		Seq    uint64 `json:"seq"`
		Reason string `json:"reason"`
		Text   string `json:"text"`
	}
	s.runJSON(&dead, "channels", "dead", "echo:ops", "--json")
	if len(dead) != 1 || dead[0].Text != "[nack] refused" || !strings.Contains(dead[0].Reason, "[nack]") {
		t.Fatalf("dead --json: %+v", dead)
	}
	s.must("channels", "replay", "echo:ops", fmt.Sprint(dead[0].Seq))
	var events []struct {
		Kind string `json:"kind"`
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		s.runJSON(&events, "channels", "events", "echo:ops", "--json")
		if slices.ContainsFunc(events, func(e struct {
			Kind string `json:"kind"`
		}) bool {
			return e.Kind == "dead_letter.replayed"
		}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dead_letter.replayed event: %+v", events)
		}
	}

	// A delete is held for an approval and runs once it is allowed. (Echo keeps what it was
	// sent in memory: its successor holds the messages since the kill.)
	s.runJSON(&read, "channels", "read", "echo:ops", "room-1", "--json")
	if len(read) != 3 || read[0].Text != "hello 5" {
		t.Fatalf("read after the kill: %+v", read)
	}
	out := s.must("channels", "delete", "echo:ops", "room-1", read[0].ID)
	approval := ""
	if _, err := fmt.Sscanf(out, "held for approval %s", &approval); err != nil {
		t.Fatalf("delete: %q", out)
	}
	s.must("approvals", "approve", strings.TrimSuffix(approval, ":"))
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		s.runJSON(&read, "channels", "read", "echo:ops", "room-1", "--json")
		if len(read) > 0 && read[0].Text != "hello 5" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the approved delete did not run: %+v", read)
		}
	}

	// Inbound messages wait in the inbox while no agent is attached.
	s.must("channels", "inject", "echo:ops", "hi from outside")
	var inbox []struct {
		SenderID string `json:"sender_id"`
		Text     string `json:"text"`
	}
	s.runJSON(&inbox, "channels", "inbox", "echo:ops", "--json")
	if len(inbox) != 1 || inbox[0].Text != "hi from outside" || inbox[0].SenderID == "" {
		t.Fatalf("inbox --json: %+v", inbox)
	}

	// A Discord connector whose secret is not set says so, and tries once it is.
	s.must("channels", "add", "discord:ops", "--set", "token=discord-ops", "--set", "inbound=false", "--set", "api_url=http://127.0.0.1:1/api/v10")
	missing := s.waitConnector("discord:ops", "missing_credential", func(c connectorJSON) bool { return c.Readiness == "missing_credential" })
	if !strings.Contains(missing.Detail, "secrets set discord-ops") {
		t.Fatalf("missing credential detail %q: want the command that fixes it", missing.Detail)
	}
	if out, errOut, code := s.runWithStdin(strings.NewReader("bot-token-value\n"), "secrets", "set", "discord-ops"); code != 0 || !strings.Contains(out, "sha256:") {
		t.Fatalf("secrets set: exit %d\n%s%s", code, out, errOut)
	}
	s.waitConnector("discord:ops", "the secret taken", func(c connectorJSON) bool { return c.Readiness != "missing_credential" })
	var secrets []struct {
		Name        string `json:"name"`
		Fingerprint string `json:"fingerprint"`
		Size        int    `json:"size"`
	}
	s.runJSON(&secrets, "secrets", "list", "--json")
	if len(secrets) != 1 || secrets[0].Name != "discord-ops" || secrets[0].Size != len("bot-token-value") {
		t.Fatalf("secrets list --json: %+v", secrets)
	}
	for _, f := range []string{"logs/daemon.log", "secrets/secrets.sealed"} {
		if b, _ := os.ReadFile(filepath.Join(s.home, f)); strings.Contains(string(b), "bot-token-value") {
			t.Fatalf("%s holds the secret's value", f)
		}
	}
}
