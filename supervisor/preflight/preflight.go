// Package preflight checks that a machine can run the Palyra stack and says how to fix what
// it can't: the checks behind `palyra-tui doctor` and the TUI's first-run screen.
package preflight

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/palyra/palyra/internal/admintls"
	"github.com/palyra/palyra/internal/diskspace"
	"github.com/palyra/palyra/internal/portholder"
	"github.com/palyra/palyra/supervisor"
)

// Service is one supervised service as the checks see it.
type Service struct {
	Name  string
	Path  string // the binary that will be executed
	Ports []Port
	// PID is the process of this state directory's running service, 0 when none runs. A
	// port that process (or a child of it) listens on is ok; any other holder, such as the
	// same service of another state directory, blocks.
	PID int
}

// Port is one address a service listens on.
type Port struct {
	Label string // e.g. "admin API"; empty for a service's only port
	Addr  string // host:port; port 0 is never busy
	Env   string // the variable that changes Addr, named in the fix
	// Kept marks a port others are configured with (paired nodes dial the node API's):
	// the fix suggests a fixed port, never port 0.
	Kept bool
	// Unknown, when set, says why Addr is not known (say, the file that keeps it is
	// damaged) and what to do; the check blocks with it.
	Unknown error
}

// Target is what to check.
type Target struct {
	Home     string
	Services []Service
	// Secrets are files only their owner may read (a token, private keys); those that do not
	// exist yet are skipped.
	Secrets []string
	// PrivateDirs hold secrets and should be 0700.
	PrivateDirs []string
	Admin       AdminAPI
}

// AdminAPI is palyrad's admin API, which carries bearer tokens.
type AdminAPI struct {
	Addr string // host:port; empty: not checked
	TLS  bool   // served with TLS (--admin-tls)
	Env  string // the variable that changes Addr, named in the fix
}

// Run runs every check. It never fails as a whole: each problem is a check's result.
func Run(ctx context.Context, t Target) []supervisor.Check {
	checks := []supervisor.Check{stateDir(t.Home), diskSpace(t.Home), secretFiles(t.Secrets, t.PrivateDirs)}
	if t.Admin.Addr != "" {
		checks = append(checks, adminAPI(t.Admin))
	}
	for _, s := range t.Services {
		checks = append(checks, binary(s))
	}
	for _, s := range t.Services {
		for _, p := range s.Ports {
			checks = append(checks, port(ctx, s, p))
		}
	}
	return append(checks, chromium())
}

// Blocked reports whether any check blocks a start.
func Blocked(checks []supervisor.Check) bool {
	for _, c := range checks {
		if c.Status == supervisor.CheckBlocked {
			return true
		}
	}
	return false
}

func stateDir(home string) supervisor.Check {
	c := supervisor.Check{Key: "state_dir", Label: "State directory", Status: supervisor.CheckOK, Detail: home + " is writable"}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return blocked(c, err.Error(), "choose a writable directory with --home or PALYRA_HOME")
	}
	probe := filepath.Join(home, ".write-probe-"+strconv.Itoa(os.Getpid()))
	if err := os.WriteFile(probe, nil, 0o600); err != nil {
		return blocked(c, err.Error(), "fix the permissions of "+home+" or choose another with --home or PALYRA_HOME")
	}
	os.Remove(probe)
	if st, err := os.Stat(home); err == nil && st.Mode().Perm()&0o077 != 0 {
		c.Status = supervisor.CheckWarning
		c.Detail = fmt.Sprintf("%s is readable by other users (mode %v)", home, st.Mode().Perm())
		c.Fix = "chmod 700 " + home
	}
	return c
}

// secretFiles blocks on a secret others can read (palyrad and palyra-node refuse such files
// too) and warns about a loose directory around them.
func secretFiles(files, dirs []string) supervisor.Check {
	c := supervisor.Check{Key: "secret_files", Label: "Secret files", Status: supervisor.CheckOK}
	var fine, loose, looseDirs, problems []string
	for _, f := range files {
		st, err := os.Stat(f)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			problems = append(problems, err.Error())
		case st.Mode().Perm()&0o077 != 0:
			loose = append(loose, f)
			problems = append(problems, fmt.Sprintf("%s is readable by others (mode %04o)", f, st.Mode().Perm()))
		default:
			fine = append(fine, f)
		}
	}
	for _, d := range dirs {
		if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o077 != 0 {
			looseDirs = append(looseDirs, d)
			problems = append(problems, fmt.Sprintf("%s is open to others (mode %04o)", d, st.Mode().Perm()))
		}
	}
	var fixes []string
	if len(loose) > 0 {
		fixes = append(fixes, "chmod 600 "+strings.Join(loose, " "))
	}
	if len(looseDirs) > 0 {
		fixes = append(fixes, "chmod 700 "+strings.Join(looseDirs, " "))
	}
	switch {
	case len(loose) > 0:
		return blocked(c, strings.Join(problems, "; ")+": a token or key others can read lets them act as the gateway or a node, so palyrad and palyra-node refuse them", strings.Join(fixes, "; "))
	case len(problems) > 0:
		c.Status, c.Detail, c.Fix = supervisor.CheckWarning, strings.Join(problems, "; "), strings.Join(fixes, "; ")
	case len(fine) == 0:
		c.Detail = "none yet: palyrad and palyra-node make them readable by their owner only"
	default:
		c.Detail = strings.Join(fine, ", ") + ": readable by their owner only"
	}
	return c
}

// adminAPI blocks an admin API that other machines can reach without TLS: its bearer tokens
// would cross the network in the clear, and palyrad refuses to start so.
func adminAPI(a AdminAPI) supervisor.Check {
	c := supervisor.Check{Key: "admin_api", Label: "Admin API", Status: supervisor.CheckOK}
	switch {
	case !admintls.Exposed(a.Addr) && a.TLS:
		c.Detail = a.Addr + ": this machine only, with TLS"
	case !admintls.Exposed(a.Addr):
		c.Detail = a.Addr + ": this machine only"
	case a.TLS:
		c.Detail = a.Addr + ": reachable from other machines, with TLS from the gateway CA; clients there need its pki/ca.crt (--gateway-ca)"
	default:
		return blocked(c, a.Addr+" is reachable from other machines without TLS: the bearer tokens of the admin API would cross the network in the clear",
			"serve it with TLS: --admin-tls (PALYRA_ADMIN_TLS=1); or bind it to this machine: "+a.Env+"=127.0.0.1:7443")
	}
	return c
}

func diskSpace(home string) supervisor.Check {
	c := supervisor.Check{Key: "disk_space", Label: "Disk space", Status: supervisor.CheckOK}
	free, err := diskspace.Free(home)
	if err != nil {
		c.Status = supervisor.CheckWarning
		c.Detail = "cannot read free space: " + err.Error()
		return c
	}
	c.Detail = fmt.Sprintf("%s free on the state directory's file system", diskspace.Format(free))
	switch {
	case free < 100<<20:
		return blocked(c, c.Detail, "free disk space; logs and databases need room to grow")
	case free < 1<<30:
		c.Status = supervisor.CheckWarning
		c.Fix = "free disk space; logs rotate but need a few hundred MB"
	}
	return c
}

func binary(s Service) supervisor.Check {
	c := supervisor.Check{Key: s.Name + "_binary", Label: s.Name + " binary", Status: supervisor.CheckOK, Detail: s.Path}
	st, err := os.Stat(s.Path)
	if err != nil {
		return blocked(c, err.Error(), "build it with `just build`, or point PALYRA_"+envName(s.Name)+"_BIN at an installed binary")
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return blocked(c, s.Path+" is not an executable file", "chmod +x "+s.Path+" or point PALYRA_"+envName(s.Name)+"_BIN elsewhere")
	}
	return c
}

func port(ctx context.Context, s Service, pt Port) supervisor.Check {
	key, label := s.Name+"_port", s.Name+" port"
	if pt.Label != "" {
		key, label = s.Name+"_"+strings.ReplaceAll(strings.ToLower(pt.Label), " ", "_")+"_port", s.Name+" "+pt.Label+" port"
	}
	c := supervisor.Check{Key: key, Label: label, Status: supervisor.CheckOK, Detail: pt.Addr + " is free"}
	if pt.Unknown != nil {
		return blocked(c, pt.Unknown.Error(), "")
	}
	host, p, err := net.SplitHostPort(pt.Addr)
	if err != nil {
		fix := "set " + pt.Env + " to host:port, e.g. 127.0.0.1:0"
		if pt.Kept {
			fix = "set " + pt.Env + " to host:port with a fixed port"
		}
		return blocked(c, fmt.Sprintf("%q is not host:port", pt.Addr), fix)
	}
	if p == "0" {
		c.Detail = pt.Addr + ": any free port"
		return c
	}
	var lc net.ListenConfig
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	l, err := lc.Listen(ctx, "tcp", net.JoinHostPort(host, p))
	if err == nil {
		l.Close()
		return c
	}
	detail := pt.Addr + " is already in use"
	if n, _ := strconv.Atoi(p); n > 0 {
		pid, name := portholder.Find(n)
		if s.PID > 0 && pid > 0 && descendsFrom(pid, s.PID) {
			c.Detail = fmt.Sprintf("%s is held by the running %s (pid %d)", pt.Addr, s.Name, s.PID)
			return c
		}
		if pid > 0 {
			detail += fmt.Sprintf(" by pid %d (%s)", pid, name)
		}
	}
	if pt.Kept {
		return blocked(c, detail, "stop what holds it, or set "+pt.Env+" to another fixed address and pair the nodes again")
	}
	return blocked(c, detail, "stop what holds it, or set "+pt.Env+" to another address (port 0 picks a free one)")
}

func chromium() supervisor.Check {
	c := supervisor.Check{Key: "chromium", Label: "Chromium", Status: supervisor.CheckOK}
	if p := os.Getenv("PALYRA_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			c.Status = supervisor.CheckWarning
			c.Detail = "PALYRA_CHROMIUM: " + err.Error()
			c.Fix = "point PALYRA_CHROMIUM at a chromium binary"
			return c
		}
		c.Detail = p
		return c
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			c.Detail = p
			return c
		}
	}
	c.Status = supervisor.CheckWarning
	c.Detail = "no chromium on PATH; browser automation will not work"
	c.Fix = "apt-get install chromium (or set PALYRA_CHROMIUM)"
	return c
}

func blocked(c supervisor.Check, detail, fix string) supervisor.Check {
	c.Status = supervisor.CheckBlocked
	c.Detail = detail
	c.Fix = fix
	return c
}

func envName(service string) string {
	switch service {
	case "daemon":
		return "DAEMON"
	case "browserd":
		return "BROWSERD"
	}
	return "SERVICE"
}
