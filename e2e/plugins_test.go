package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

type pluginsJSON struct {
	Dir     string `json:"dir"`
	Plugins []struct {
		Kind         string `json:"kind"`
		State        string `json:"state"`
		SHA256       string `json:"sha256"`
		PinnedSHA256 string `json:"pinned_sha256"`
		Problem      string `json:"problem"`
	} `json:"plugins"`
}

func (p pluginsJSON) state(kind string) string {
	for _, f := range p.Plugins {
		if f.Kind == kind {
			return f.State
		}
	}
	return ""
}

// TestE2EExternalPlugin: an operator drops the Node.js Echo plugin into palyrad's plugin
// directory, trusts it at its SHA-256, and sends through it; when the file is changed
// behind palyrad's back, the plugin is not launched again until trusted again.
func TestE2EExternalPlugin(t *testing.T) {
	t.Parallel()
	script, err := filepath.Abs("../connectors/examples/node-echo/palyra-connector-node-echo")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(script), "node_modules")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the Node.js example plugin's packages are required in CI (scripts/install-tools.sh installs them)")
		}
		t.Skip("node-echo's node_modules missing: run scripts/install-tools.sh")
	}
	s := newStack(t)
	s.must("services", "start", "all")
	s.waitStatus("stack healthy", healthy)

	var plugins pluginsJSON
	s.runJSON(&plugins, "channels", "plugins", "--json")
	if plugins.Dir != filepath.Join(s.home, "plugins") || plugins.state("echo") != "built-in" {
		t.Fatalf("plugins --json: %+v", plugins)
	}
	// The plugin the operator installs is a launcher for the script: the file pinned is the
	// one palyrad runs.
	launcher := filepath.Join(plugins.Dir, "palyra-connector-node-echo")
	body := "#!/bin/sh\nexec node '" + script + "' \"$@\"\n"
	if err := os.WriteFile(launcher, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	raw := sha256.Sum256([]byte(body))
	sum := hex.EncodeToString(raw[:])
	s.runJSON(&plugins, "channels", "plugins", "--json")
	if plugins.state("node-echo") != "untrusted" {
		t.Fatalf("before trust: %+v", plugins)
	}
	if _, errOut, code := s.run("channels", "add", "node-echo:ops"); code == 0 || !strings.Contains(errOut, "no such connector kind") {
		t.Fatalf("adding an untrusted kind: exit %d, %s", code, errOut)
	}
	if out := s.must("channels", "trust", "node-echo", "--sha256", sum); !strings.Contains(out, "trusted") {
		t.Fatalf("trust: %q", out)
	}
	s.must("channels", "add", "node-echo:ops")
	first := s.waitConnector("node-echo:ops", "ready", func(c connectorJSON) bool { return c.Readiness == "ready" && c.Plugin.PID > 0 })
	s.must("channels", "send", "node-echo:ops", "room", "hello from node")
	s.waitConnector("node-echo:ops", "delivered", func(c connectorJSON) bool { return c.Delivered == 1 })
	var read []messageJSON
	s.runJSON(&read, "channels", "read", "node-echo:ops", "room", "--json")
	if len(read) != 1 || read[0].Text != "hello from node" {
		t.Fatalf("read through the Node plugin: %+v", read)
	}

	// Someone changes the file; palyrad will not launch it again.
	if err := os.WriteFile(launcher, []byte(body+"# changed\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(first.Plugin.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s.waitConnector("node-echo:ops", "the changed file refused", func(c connectorJSON) bool {
		return strings.Contains(c.Plugin.LastError, "SHA-256 no longer matches")
	})
	s.runJSON(&plugins, "channels", "plugins", "--json")
	if plugins.state("node-echo") != "changed" {
		t.Fatalf("after the change: %+v", plugins)
	}
}
