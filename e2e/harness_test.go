package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// bin is the palyra-tui binary under test and nodeBin palyra-node, built once with the race
// detector.
var bin, nodeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "palyra-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin, nodeBin = filepath.Join(dir, "palyra-tui"), filepath.Join(dir, "palyra-node")
	build := exec.Command("go", "build", "-race", "-o", dir, "../cmd/palyra-tui", "../cmd/palyra-node")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// stackEnv is a private state directory with every port chosen by the kernel, so tests run in
// parallel and never meet a real installation.
type stackEnv struct {
	t    *testing.T
	home string
	env  []string
}

func newStack(t *testing.T) *stackEnv {
	t.Helper()
	// A short path: unix socket paths are limited to 107 bytes.
	home, err := os.MkdirTemp("", "pe2e-")
	if err != nil {
		t.Fatal(err)
	}
	s := &stackEnv{t: t, home: home, env: append(os.Environ(),
		"PALYRA_HOME="+home,
		"PALYRA_ADMIN_ADDR=127.0.0.1:0",
		"PALYRA_NODE_ADDR=127.0.0.1:0",
		"PALYRA_BROWSERD_ADDR=127.0.0.1:0",
		"NO_COLOR=1",
		// The race-enabled binary otherwise sleeps a second before every exit.
		"GORACE=atexit_sleep_ms=0",
	)}
	t.Cleanup(func() {
		s.run("shutdown")
		if t.Failed() {
			for _, f := range []string{"serve.log", "logs/daemon.log", "logs/browserd.log", "tui.log"} {
				b, _ := os.ReadFile(filepath.Join(home, f))
				if len(b) > 4000 {
					b = b[len(b)-4000:]
				}
				t.Logf("--- %s ---\n%s", f, b)
			}
		}
		os.RemoveAll(home)
	})
	return s
}

// run executes palyra-tui with args and returns stdout, stderr and the exit code.
func (s *stackEnv) run(args ...string) (string, string, int) {
	return s.runWithStdin(nil, args...)
}

func (s *stackEnv) runWithStdin(stdin io.Reader, args ...string) (string, string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = s.env
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatalf("run %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

type status struct {
	Overall  string   `json:"overall"`
	Reasons  []string `json:"reasons"`
	Services []struct {
		Name     string            `json:"name"`
		State    string            `json:"state"`
		Health   string            `json:"health"`
		PID      int               `json:"pid"`
		Restarts int               `json:"restarts"`
		UptimeS  float64           `json:"uptime_s"`
		Addrs    map[string]string `json:"addrs"`
		LastExit *struct {
			Code   int    `json:"code"`
			Signal string `json:"signal"`
		} `json:"last_exit"`
	} `json:"services"`
}

func (s *stackEnv) status() (status, int) {
	s.t.Helper()
	out, errOut, code := s.run("status", "--json")
	var st status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		s.t.Fatalf("status --json: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	return st, code
}

// waitStatus polls `status --json` until ok says yes, or fails with the last status.
func (s *stackEnv) waitStatus(what string, ok func(status) bool) status {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var st status
	for time.Now().Before(deadline) {
		st, _ = s.status()
		if ok(st) {
			return st
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("timed out waiting for %s; last status: %+v", what, st)
	return st
}

func healthy(st status) bool {
	if st.Overall != "healthy" || len(st.Services) < 2 {
		return false
	}
	for _, svc := range st.Services {
		if svc.State != "running" || svc.Health != "healthy" {
			return false
		}
	}
	return true
}

func service(st status, name string) (i int) {
	for i, svc := range st.Services {
		if svc.Name == name {
			return i
		}
	}
	return -1
}

// tmuxSocket keeps the tests' sessions on a tmux server of their own.
const tmuxSocket = "palyra-e2e"

// tmux drives the real TUI in a detached session of fixed size.
type tmux struct {
	t    *testing.T
	name string
}

func startTmux(t *testing.T, env []string, w, h int, args ...string) *tmux {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux is required in CI (scripts/install-tools.sh installs it)")
		}
		t.Skip("tmux not installed")
	}
	name := fmt.Sprintf("palyra-e2e-%d-%d", os.Getpid(), time.Now().UnixNano())
	var envArgs []string
	for _, e := range env {
		if strings.HasPrefix(e, "PALYRA_") || strings.HasPrefix(e, "NO_COLOR") {
			envArgs = append(envArgs, "-e", e)
		}
	}
	cmdline := bin + " " + strings.Join(args, " ")
	tmuxArgs := append([]string{"-L", tmuxSocket, "new-session", "-d", "-s", name, "-x", fmt.Sprint(w), "-y", fmt.Sprint(h)}, envArgs...)
	tmuxArgs = append(tmuxArgs, "TERM=xterm-256color "+cmdline+"; sleep 30")
	if out, err := exec.Command("tmux", tmuxArgs...).CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	tm := &tmux{t: t, name: name}
	t.Cleanup(func() { exec.Command("tmux", "-L", tmuxSocket, "kill-session", "-t", name).Run() })
	return tm
}

func (m *tmux) keys(keys ...string) {
	m.t.Helper()
	if out, err := exec.Command("tmux", append([]string{"-L", tmuxSocket, "send-keys", "-t", m.name}, keys...)...).CombinedOutput(); err != nil {
		m.t.Fatalf("send-keys %v: %v: %s", keys, err, out)
	}
}

func (m *tmux) screen() string {
	out, err := exec.Command("tmux", "-L", tmuxSocket, "capture-pane", "-p", "-t", m.name).Output()
	if err != nil {
		return "capture-pane: " + err.Error()
	}
	return string(out)
}

// until polls the screen until ok says yes; on timeout it fails and prints the screen.
func (m *tmux) until(what string, ok func(screen string) bool) string {
	m.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var sc string
	for time.Now().Before(deadline) {
		sc = m.screen()
		if ok(sc) {
			return sc
		}
		time.Sleep(50 * time.Millisecond)
	}
	m.t.Fatalf("timed out waiting for %s; screen:\n%s", what, sc)
	return sc
}

// lineWith returns the first screen line containing all of parts.
func lineWith(screen string, parts ...string) string {
	for _, l := range strings.Split(screen, "\n") {
		all := true
		for _, p := range parts {
			if !strings.Contains(l, p) {
				all = false
				break
			}
		}
		if all {
			return l
		}
	}
	return ""
}
