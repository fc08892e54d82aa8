package e2e

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

type approvalJSON struct {
	ID          string `json:"id"`
	SubjectType string `json:"subject_type"`
	State       string `json:"state"`
	Summary     string `json:"summary"`
	Details     string `json:"details"`
}

type deviceJSON struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Trust        string `json:"trust"`
	Presence     string `json:"presence"`
	Capabilities []struct {
		Name      string `json:"name"`
		Available bool   `json:"available"`
	} `json:"capabilities"`
}

type inventoryJSON struct {
	Devices []deviceJSON `json:"devices"`
}

// node is one palyra-node process's home and, while it runs, the process.
type node struct {
	home   string
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	exited chan int
}

// startNode runs palyra-node with args against home in the background.
func (s *stackEnv) startNode(home string, extraEnv []string, args ...string) *node {
	s.t.Helper()
	cmd := exec.Command(nodeBin, args...)
	cmd.Env = append(append(os.Environ(), "PALYRA_NODE_HOME="+home), extraEnv...)
	n := &node{home: home, cmd: cmd, stderr: &bytes.Buffer{}, exited: make(chan int, 1)}
	cmd.Stdout, cmd.Stderr = n.stderr, n.stderr
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() {
		cmd.Wait()
		n.exited <- cmd.ProcessState.ExitCode()
	}()
	s.t.Cleanup(func() {
		cmd.Process.Kill()
		if s.t.Failed() {
			s.t.Logf("--- palyra-node %v ---\n%s", args, n.stderr)
		}
	})
	return n
}

func (n *node) wait(t *testing.T, what string) int {
	t.Helper()
	select {
	case code := <-n.exited:
		return code
	case <-time.After(30 * time.Second):
		t.Fatalf("palyra-node did not exit: %s\n%s", what, n.stderr)
		return -1
	}
}

// runJSON runs a palyra-tui command that prints JSON and decodes it into v.
func (s *stackEnv) runJSON(v any, args ...string) {
	s.t.Helper()
	out, errOut, code := s.run(args...)
	if code != 0 {
		s.t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		s.t.Fatalf("%v: %v\n%s", args, err, out)
	}
}

// pendingPairing waits for a pending device pairing approval that is not in seen.
func (s *stackEnv) pendingPairing(seen map[string]bool) approvalJSON {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var list []approvalJSON
		s.runJSON(&list, "approvals", "list", "--json")
		for _, a := range list {
			if a.SubjectType == "device_pairing" && !seen[a.ID] {
				seen[a.ID] = true
				return a
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatal("no pending pairing approval appeared")
	return approvalJSON{}
}

// beginPairing mints a code and starts `palyra-node pair` with it for a node called name.
func (s *stackEnv) beginPairing(name string) *node {
	s.t.Helper()
	var code struct {
		Code          string `json:"code"`
		NodeAddr      string `json:"node_addr"`
		CAFingerprint string `json:"ca_fingerprint"`
	}
	s.runJSON(&code, "pair", "--json")
	home := filepath.Join(s.home, "nodes", name)
	// The code travels in the environment, never in the arguments.
	return s.startNode(home, []string{"PALYRA_PAIR_CODE=" + code.Code},
		"pair", "--gateway", code.NodeAddr, "--name", name, "--ca-fingerprint", code.CAFingerprint)
}

func (s *stackEnv) inventory() map[string]deviceJSON {
	s.t.Helper()
	var inv inventoryJSON
	s.runJSON(&inv, "inventory", "--json")
	byName := map[string]deviceJSON{}
	for _, d := range inv.Devices {
		byName[d.Name] = d
	}
	return byName
}

func (s *stackEnv) waitInventory(what string, ok func(map[string]deviceJSON) bool) map[string]deviceJSON {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var inv map[string]deviceJSON
	for time.Now().Before(deadline) {
		if inv = s.inventory(); ok(inv) {
			return inv
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("timed out waiting for %s; inventory: %+v", what, inv)
	return nil
}

// TestE2EGatewayPairing pairs two real palyra-node processes through the node port, approves
// them, invokes a capability, revokes one and sees it refused, all with headless commands.
func TestE2EGatewayPairing(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	if out, errOut, code := s.run("services", "start", "all"); code != 0 {
		t.Fatalf("services start all: exit %d\n%s%s", code, out, errOut)
	}
	s.waitStatus("stack healthy", healthy)

	seen := map[string]bool{}
	var runs []*node
	for _, name := range []string{"alpha", "beta"} {
		pairing := s.beginPairing(name)
		a := s.pendingPairing(seen)
		if !strings.Contains(a.Summary, name) {
			t.Errorf("pairing approval %q does not name the node %s", a.Summary, name)
		}
		if out, errOut, code := s.run("approvals", "approve", a.ID); code != 0 {
			t.Fatalf("approvals approve %s: exit %d\n%s%s", a.ID, code, out, errOut)
		}
		if code := pairing.wait(t, "pair after approval"); code != 0 {
			t.Fatalf("palyra-node pair exit %d\n%s", code, pairing.stderr)
		}
		for _, f := range []string{"node.key", "node.crt", "ca.crt", "node.json"} {
			if info, err := os.Stat(filepath.Join(pairing.home, f)); err != nil || info.Mode().Perm() != 0o600 {
				t.Errorf("%s: %v, mode %v; want 0600", f, err, info)
			}
		}
		runs = append(runs, s.startNode(pairing.home, nil, "run", "--mediation", "deny", "--opener", "true"))
	}

	inv := s.waitInventory("both nodes trusted and online", func(inv map[string]deviceJSON) bool {
		return inv["alpha"].Trust == "trusted" && inv["alpha"].Presence == "online" &&
			inv["beta"].Trust == "trusted" && inv["beta"].Presence == "online"
	})
	alpha, beta := inv["alpha"], inv["beta"]

	var call struct {
		State  string          `json:"state"`
		Output json.RawMessage `json:"output"`
		Error  string          `json:"error"`
	}
	s.runJSON(&call, "inventory", "invoke", beta.ID, "system.health", "--json")
	if call.State != "succeeded" || !strings.Contains(string(call.Output), "uptime") {
		t.Fatalf("system.health on beta: %+v", call)
	}

	// A mediated capability on a node that denies mediation fails, and says so.
	out, _, code := s.run("inventory", "invoke", beta.ID, "desktop.open_url", `{"url":"https://example.com"}`, "--json")
	if code != 1 || !strings.Contains(out, `"failed"`) {
		t.Fatalf("open_url with mediation denied: exit %d\n%s", code, out)
	}

	if out, errOut, code := s.run("inventory", "revoke", alpha.ID, "--reason", "laptop lost"); code != 0 {
		t.Fatalf("inventory revoke: exit %d\n%s%s", code, out, errOut)
	}
	if code := runs[0].wait(t, "run after revocation"); code != 1 || !strings.Contains(runs[0].stderr.String(), "revoked") {
		t.Fatalf("revoked node: exit %d, want 1 saying revoked\n%s", code, runs[0].stderr)
	}
	s.waitInventory("alpha revoked, beta still online", func(inv map[string]deviceJSON) bool {
		return inv["alpha"].Trust == "revoked" && inv["beta"].Presence == "online"
	})
	// The revoked node cannot come back with its certificate.
	again := s.startNode(runs[0].home, nil, "run", "--mediation", "deny", "--opener", "true")
	if code := again.wait(t, "run with a revoked certificate"); code != 1 {
		t.Fatalf("revoked node started again: exit %d\n%s", code, again.stderr)
	}

	if out, errOut, code := s.run("audit", "verify"); code != 0 {
		t.Fatalf("audit verify: exit %d\n%s%s", code, out, errOut)
	}
}

// freeAddr returns a loopback address with a port free at the time of the call.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestE2EDaemonKilledMidPairing kills palyrad while a pairing waits for the operator: the
// request survives the restart and the node still pairs once it is approved.
func TestE2EDaemonKilledMidPairing(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	// The node keeps dialling the address it paired with, so it must not move on restart.
	s.env = append(s.env, "PALYRA_NODE_ADDR="+freeAddr(t))
	if out, errOut, code := s.run("services", "start", "all"); code != 0 {
		t.Fatalf("services start all: exit %d\n%s%s", code, out, errOut)
	}
	st := s.waitStatus("stack healthy", healthy)
	daemon := st.Services[service(st, "daemon")]

	seen := map[string]bool{}
	pairing := s.beginPairing("gamma")
	a := s.pendingPairing(seen)
	if err := syscall.Kill(daemon.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s.waitStatus("daemon back after kill -9", func(st status) bool {
		return healthy(st) && st.Services[service(st, "daemon")].PID != daemon.PID
	})
	var still approvalJSON
	s.runJSON(&still, "approvals", "show", a.ID, "--json")
	if still.State != "pending" {
		t.Fatalf("after kill -9 the pairing approval is %q, want pending", still.State)
	}
	if out, errOut, code := s.run("approvals", "approve", a.ID); code != 0 {
		t.Fatalf("approvals approve: exit %d\n%s%s", code, out, errOut)
	}
	if code := pairing.wait(t, "pair across a daemon restart"); code != 0 {
		t.Fatalf("palyra-node pair exit %d\n%s", code, pairing.stderr)
	}

	// A denied pairing tells the node why.
	denied := s.beginPairing("delta")
	d := s.pendingPairing(seen)
	if out, errOut, code := s.run("approvals", "deny", d.ID, "--reason", "unknown device"); code != 0 {
		t.Fatalf("approvals deny: exit %d\n%s%s", code, out, errOut)
	}
	if code := denied.wait(t, "pair after denial"); code != 1 || !strings.Contains(denied.stderr.String(), "unknown device") {
		t.Fatalf("denied pairing: exit %d, want 1 with the reason\n%s", code, denied.stderr)
	}
}
