package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// requester is a running `approvals request --json`: its first line is the approval as
// stored, its last the outcome.
type requester struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr lockedBuffer
	exited chan int
}

// lockedBuffer is a bytes.Buffer the process's copier and the test may use at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func (s *stackEnv) startRequest(t *testing.T, args ...string) *requester {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	r := &requester{lines: make(chan string, 16), exited: make(chan int, 1)}
	r.cmd = exec.CommandContext(ctx, bin, append([]string{"approvals", "request", "--json"}, args...)...)
	r.cmd.Env = s.env
	r.cmd.Stderr = &r.stderr
	out, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		io.Copy(io.Discard, out)
		r.cmd.Wait()
		r.exited <- r.cmd.ProcessState.ExitCode()
	}()
	return r
}

func (r *requester) next(t *testing.T, what string) approvalJSON {
	t.Helper()
	select {
	case line := <-r.lines:
		var a approvalJSON
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("%s: %q is not an approval: %v", what, line, err)
		}
		return a
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: no line; stderr: %s", what, r.stderr.String())
		return approvalJSON{}
	}
}

func (r *requester) wait(t *testing.T) int {
	t.Helper()
	select {
	case code := <-r.exited:
		return code
	case <-time.After(30 * time.Second):
		t.Fatalf("approvals request did not exit; stderr: %s", r.stderr.String())
		return -1
	}
}

// TestE2ERequestWaitsAcrossADaemonRestart: a script's request prints its id at once, rides
// out a kill -9 of palyrad (which comes back on another port), and ends with the decision;
// an interrupted one is resumed with `approvals wait`.
func TestE2ERequestWaitsAcrossADaemonRestart(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	if out, errOut, code := s.run("services", "start", "all"); code != 0 {
		t.Fatalf("services start all: exit %d\n%s%s", code, out, errOut)
	}
	st := s.waitStatus("stack healthy", healthy)
	daemon := st.Services[service(st, "daemon")]

	r := s.startRequest(t, "--subject", "deploy/prod", "--risk", "high", "--summary", "deploy build 412")
	asked := r.next(t, "the stored request")
	if asked.State != "pending" || !strings.HasPrefix(asked.ID, "ap-") {
		t.Fatalf("first line %+v, want the pending approval with its id", asked)
	}
	if err := syscall.Kill(daemon.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	back := s.waitStatus("daemon back after kill -9", func(st status) bool {
		return healthy(st) && st.Services[service(st, "daemon")].PID != daemon.PID
	})
	if back.Services[service(back, "daemon")].Addrs["admin"] == daemon.Addrs["admin"] {
		t.Logf("palyrad came back on the same admin port %s", daemon.Addrs["admin"])
	}
	if out, errOut, code := s.run("approvals", "approve", asked.ID); code != 0 {
		t.Fatalf("approvals approve: exit %d\n%s%s", code, out, errOut)
	}
	if got := r.next(t, "the outcome"); got.ID != asked.ID || got.State != "approved" {
		t.Fatalf("outcome %+v, want %s approved", got, asked.ID)
	}
	if code := r.wait(t); code != 0 {
		t.Fatalf("approvals request exit %d, want 0; stderr: %s", code, r.stderr.String())
	}

	// Interrupted, the request says how to go on; `approvals wait` does.
	r = s.startRequest(t, "--subject", "deploy/prod", "--risk", "high", "--summary", "deploy build 413")
	asked = r.next(t, "the second request")
	r.cmd.Process.Signal(syscall.SIGINT)
	if code := r.wait(t); code != 1 || !strings.Contains(r.stderr.String(), "palyra-tui approvals wait "+asked.ID) {
		t.Fatalf("interrupted: exit %d, stderr %q; want 1 naming `approvals wait %s`", code, r.stderr.String(), asked.ID)
	}
	if out, errOut, code := s.run("approvals", "deny", asked.ID, "--reason", "not today"); code != 0 {
		t.Fatalf("approvals deny: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code := s.run("approvals", "wait", asked.ID)
	if code != 1 || !strings.Contains(out, asked.ID+" denied by admin: not today") {
		t.Fatalf("approvals wait: exit %d\n%s%s; want 1 and the denial", code, out, errOut)
	}
}
