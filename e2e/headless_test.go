package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestE2EHeadlessLifecycle drives the stack as a script would: start, kill -9, restart, stop,
// logs, shutdown.
func TestE2EHeadlessLifecycle(t *testing.T) {
	t.Parallel()
	s := newStack(t)

	st, code := s.status()
	if code != 1 || st.Overall != "down" {
		t.Fatalf("before start: overall %q exit %d, want down/1", st.Overall, code)
	}

	if out, errOut, code := s.run("services", "start", "all"); code != 0 {
		t.Fatalf("services start all: exit %d\n%s%s", code, out, errOut)
	}
	st = s.waitStatus("both services healthy", healthy)
	if _, code := s.status(); code != 0 {
		t.Fatalf("healthy status exit %d, want 0", code)
	}
	daemon := st.Services[service(st, "daemon")]
	if daemon.Addrs["admin"] == "" || strings.HasSuffix(daemon.Addrs["admin"], ":0") {
		t.Fatalf("daemon addrs %v: want the bound admin address", daemon.Addrs)
	}

	// An operator kills the daemon from another shell; it comes back by itself.
	if err := syscall.Kill(daemon.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st = s.waitStatus("daemon restarted after kill -9", func(st status) bool {
		d := st.Services[service(st, "daemon")]
		return healthy(st) && d.PID != daemon.PID && d.Restarts == 1 &&
			d.LastExit != nil && d.LastExit.Signal == "SIGKILL"
	})

	// An operator restart counts as a restart too.
	if out, errOut, code := s.run("services", "restart", "daemon"); code != 0 {
		t.Fatalf("services restart daemon: exit %d\n%s%s", code, out, errOut)
	}
	s.waitStatus("daemon restarted by the operator", func(st status) bool {
		return healthy(st) && st.Services[service(st, "daemon")].Restarts == 2
	})

	// A stopped browserd leaves the stack degraded, exit 3.
	if out, errOut, code := s.run("services", "stop", "browserd"); code != 0 || !strings.Contains(out, "browserd: stopped") {
		t.Fatalf("services stop browserd: exit %d\n%s%s", code, out, errOut)
	}
	st, code = s.status()
	if code != 3 || st.Overall != "degraded" {
		t.Fatalf("after stopping browserd: overall %q exit %d, want degraded/3", st.Overall, code)
	}
	if out, errOut, code := s.run("services", "start", "browserd"); code != 0 {
		t.Fatalf("services start browserd: exit %d\n%s%s", code, out, errOut)
	}
	s.waitStatus("browserd back", healthy)

	// The supervisor's notes are in the logs, filterable per service.
	out, errOut, code := s.run("logs", "--service", "daemon", "--grep", "^started", "-n", "-1")
	if code != 0 {
		t.Fatalf("logs: exit %d: %s", code, errOut)
	}
	if n := strings.Count(out, "started"); n != 3 {
		t.Fatalf("logs --grep ^started: %d lines, want 3 (first start, after kill, after restart):\n%s", n, out)
	}
	if strings.Contains(out, "browserd") {
		t.Fatalf("--service daemon printed browserd lines:\n%s", out)
	}

	// Usage errors exit 2; unknown services are named.
	if _, _, code := s.run("services", "restart"); code != 2 {
		t.Fatalf("services restart without a name: exit %d, want 2", code)
	}
	if _, errOut, code := s.run("services", "restart", "nope"); code != 2 || !strings.Contains(errOut, `unknown service "nope"; the services are daemon, browserd, all`) {
		t.Fatalf("unknown service: exit %d, stderr %q", code, errOut)
	}

	final, _ := s.status()
	if out, errOut, code := s.run("shutdown"); code != 0 {
		t.Fatalf("shutdown: exit %d\n%s%s", code, out, errOut)
	}
	for _, svc := range final.Services {
		if svc.PID == 0 {
			t.Fatalf("before shutdown %s had no pid: %+v", svc.Name, final)
		}
		waitGone(t, svc.PID)
	}
	if st, code := s.status(); code != 1 || st.Overall != "down" {
		t.Fatalf("after shutdown: overall %q exit %d", st.Overall, code)
	}

	// Without a supervisor the logs are read from the files.
	out, errOut, code = s.run("logs", "--service", "daemon", "--grep", "^started", "-n", "-1")
	if n := strings.Count(out, "started"); code != 0 || n != 3 {
		t.Fatalf("logs after shutdown: exit %d, %d started lines, want 0 and 3:\n%s%s", code, n, out, errOut)
	}
}

// TestE2ESecondServeRefused: one supervisor per state directory, and the refusal names the
// holder.
func TestE2ESecondServeRefused(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	if _, errOut, code := s.run("services", "start", "all"); code != 0 {
		t.Fatalf("start: %s", errOut)
	}
	s.waitStatus("healthy", healthy)
	lockPID := readPID(t, filepath.Join(s.home, "supervisor.lock"))
	_, errOut, code := s.run("serve")
	if code != 1 || !strings.Contains(errOut, "pid "+strconv.Itoa(lockPID)) || !strings.Contains(errOut, "already serves") {
		t.Fatalf("second serve: exit %d, stderr %q; want exit 1 naming pid %d", code, errOut, lockPID)
	}
}

// TestE2ESupervisorKilled: SIGKILL the supervisor; its services die with it, the stale socket
// is left behind, and the next start recovers.
func TestE2ESupervisorKilled(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	if _, errOut, code := s.run("services", "start", "all"); code != 0 {
		t.Fatalf("start: %s", errOut)
	}
	st := s.waitStatus("healthy", healthy)
	serverPID := readPID(t, filepath.Join(s.home, "supervisor.lock"))
	if err := syscall.Kill(serverPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, serverPID)
	for _, svc := range st.Services {
		waitGone(t, svc.PID)
	}
	if _, err := os.Stat(filepath.Join(s.home, "supervisor.sock")); err != nil {
		t.Fatalf("expected the stale socket to remain after SIGKILL: %v", err)
	}
	if _, errOut, code := s.run("services", "start", "all"); code != 0 {
		t.Fatalf("start after crash: %s", errOut)
	}
	s.waitStatus("healthy again", healthy)
}

// TestE2EOtherUIDRefused: even with the socket's mode loosened, a client of another uid is
// refused by the server.
func TestE2EOtherUIDRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another uid")
	}
	t.Parallel()
	s := newStack(t)
	if _, errOut, code := s.run("services", "start", "all"); code != 0 {
		t.Fatalf("start: %s", errOut)
	}
	s.waitStatus("healthy", healthy)
	for _, p := range []string{s.home, filepath.Dir(bin)} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(s.home, "supervisor.sock")
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "status")
	cmd.Env = s.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "uid 65534 may not use this supervisor") {
		t.Fatalf("other uid: %s", out)
	}
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pid
}

// waitGone waits until pid no longer runs. A zombie counts as gone: PID 1 of a container may
// never reap it.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return
		}
		if f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:])); len(f) > 0 && f[0] == "Z" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("pid %d still running", pid)
}
