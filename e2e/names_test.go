package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestE2EServicesShowUnderTheirOwnNames: ps, ss and doctor name each process for its role,
// though the supervisor runs every role as /proc/self/exe.
func TestE2EServicesShowUnderTheirOwnNames(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	if _, errOut, code := s.run("services", "start", "all"); code != 0 {
		t.Fatalf("start: %s", errOut)
	}
	st := s.waitStatus("healthy", healthy)
	procs := map[string]int{"palyra-tui": readPID(t, filepath.Join(s.home, "supervisor.lock"))}
	for _, svc := range st.Services {
		procs[map[string]string{"daemon": "palyrad", "browserd": "palyra-browserd"}[svc.Name]] = svc.PID
	}
	args := map[string][]string{
		"palyra-tui":      {"palyra-tui", "serve", "--home", s.home},
		"palyrad":         {"palyrad", "daemon", "--home", s.home},
		"palyra-browserd": {"palyra-browserd", "browserd", "--home", s.home},
	}
	for name, pid := range procs {
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(comm)); got != name {
			t.Errorf("pid %d is named %q, want %q", pid, got, name)
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Split(string(cmdline), "\x00"); len(got) < 4 || !slices.Equal(got[:4], args[name]) {
			t.Errorf("pid %d runs as %q, want it to start with %q", pid, got, args[name])
		}
	}
}

// TestE2EPortHeldByAnotherHomesDaemon: a second state directory configured with the first
// one's admin port has a daemon that cannot start; doctor blocks and names the first daemon,
// instead of taking it for its own.
func TestE2EPortHeldByAnotherHomesDaemon(t *testing.T) {
	t.Parallel()
	first := newStack(t)
	if _, errOut, code := first.run("services", "start", "all"); code != 0 {
		t.Fatalf("start: %s", errOut)
	}
	st := first.waitStatus("healthy", healthy)
	holder := st.Services[service(st, "daemon")]

	second := newStack(t)
	second.env = append(second.env, "PALYRA_ADMIN_ADDR="+holder.Addrs["admin"])
	if _, errOut, code := second.run("services", "start", "all"); code != 0 {
		t.Fatalf("start the second: %s", errOut)
	}
	out, errOut, code := second.run("doctor", "--json")
	var checks []struct{ Key, Status, Detail, Fix string }
	if err := json.Unmarshal([]byte(out), &checks); err != nil {
		t.Fatalf("doctor --json: %v\n%s%s", err, out, errOut)
	}
	want := holder.Addrs["admin"] + " is already in use by pid " + strconv.Itoa(holder.PID) + " (palyrad)"
	for _, c := range checks {
		if c.Key == "daemon_admin_api_port" {
			if c.Status != "blocked" || c.Detail != want {
				t.Errorf("admin port check %+v, want blocked: %s", c, want)
			}
			if code != 1 {
				t.Errorf("doctor exit %d, want 1", code)
			}
			return
		}
	}
	t.Fatalf("no admin port check in %s", out)
}
