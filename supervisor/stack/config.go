// Package stack describes the Palyra stack a supervisor runs (which services, with which
// arguments, where its state lives) and brings a supervisor server up: in the foreground for
// `palyra-tui serve`, or in the background on first use of `palyra-tui`.
package stack

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/palyra/palyra/internal/admintls"
	"github.com/palyra/palyra/internal/nodeport"
	"github.com/palyra/palyra/internal/statedir"
	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/supervisor/preflight"
)

// The service names, as the API, the TUI and the headless commands spell them.
const (
	Daemon   = "daemon"
	Browserd = "browserd"
	// Node is the local palyra-node, supervised once this machine has paired one under
	// NodeHome.
	Node = "node"
)

// selfExe re-executes this very binary. Through /proc it still works after the file on disk is
// gone, which `go run` does to its temporary build while the background server lives on.
const selfExe = "/proc/self/exe"

// The names the roles run under when this binary re-executes itself, so ps, ss and the
// status show palyrad rather than exe. Each role's main sets the same name as its comm.
const (
	ServerName   = "palyra-tui"
	DaemonName   = "palyrad"
	BrowserdName = "palyra-browserd"
	NodeName     = "palyra-node"
)

// Config is where the stack keeps its state and how its services are reached.
type Config struct {
	Home         string
	AdminAddr    string // palyrad's admin gRPC address
	NodeAddr     string // palyrad's node API address (TLS)
	BrowserdAddr string // palyra-browserd's gRPC address
	DaemonBin    string // empty: re-execute this binary as `daemon`
	BrowserdBin  string // empty: re-execute this binary as `browserd`
	// AdminTLS has palyrad serve its admin API with TLS, which it needs off loopback.
	AdminTLS bool
}

// AdminTLSEnv turns AdminTLS on ("1", "true"), as --admin-tls does.
const AdminTLSEnv = "PALYRA_ADMIN_TLS"

// adminTLSFlag is the flag for AdminTLS, of palyrad and of `palyra-tui serve`. It is always
// given, true or false, so a PALYRA_ADMIN_TLS in a service's environment cannot say
// otherwise; AdminTLS reads it back from a snapshot.
const adminTLSFlag = "--admin-tls"

func (c Config) adminTLSArg() string { return adminTLSFlag + "=" + strconv.FormatBool(c.AdminTLS) }

// FromEnv reads the configuration from the environment, with the documented defaults.
func FromEnv() Config {
	return Config{
		Home:         statedir.Default(),
		AdminAddr:    envOr("PALYRA_ADMIN_ADDR", "127.0.0.1:7443"),
		NodeAddr:     envOr("PALYRA_NODE_ADDR", "127.0.0.1:7444"),
		BrowserdAddr: envOr("PALYRA_BROWSERD_ADDR", "127.0.0.1:7543"),
		DaemonBin:    os.Getenv("PALYRA_DAEMON_BIN"),
		BrowserdBin:  os.Getenv("PALYRA_BROWSERD_BIN"),
		AdminTLS:     envBool(AdminTLSEnv),
	}
}

// envBool reads a variable set to 1 or true (any case); anything else is false.
func envBool(key string) bool {
	v, _ := strconv.ParseBool(os.Getenv(key))
	return v
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// Socket is the supervisor API's unix socket.
func (c Config) Socket() string { return filepath.Join(c.Home, "supervisor.sock") }

// LockPath is the file that makes one server the owner of Home.
func (c Config) LockPath() string { return filepath.Join(c.Home, "supervisor.lock") }

// LogDir holds the services' log files.
func (c Config) LogDir() string { return filepath.Join(c.Home, "logs") }

// ServeLog receives a background server's own output.
func (c Config) ServeLog() string { return filepath.Join(c.Home, "serve.log") }

// Validate rejects a configuration no server could use.
func (c Config) Validate() error {
	if !filepath.IsAbs(c.Home) {
		return fmt.Errorf("state directory %q must be an absolute path", c.Home)
	}
	// sun_path holds 108 bytes including the terminating NUL.
	if n := len(c.Socket()); n > 107 {
		return fmt.Errorf("state directory %s is too deep: its socket path is %d bytes, unix sockets allow 107; choose a shorter --home", c.Home, n)
	}
	return nil
}

// NodeHome is where `palyra-node pair` keeps the local node's identity by default.
func (c Config) NodeHome() string { return filepath.Join(c.Home, "node") }

// The secrets palyrad and palyra-node keep in the state directory (daemon/access,
// daemon/pki, node/identity name them; a test keeps these in step).

// AdminTokenFile is palyrad's admin token.
func (c Config) AdminTokenFile() string { return filepath.Join(c.Home, "admin.token") }

// CADir holds the gateway CA.
func (c Config) CADir() string { return filepath.Join(c.Home, "pki") }

// CACert is the gateway CA certificate, which clients pin to dial an admin API served with TLS.
func (c Config) CACert() string { return filepath.Join(c.CADir(), "ca.crt") }

// CAKey is the gateway CA's private key.
func (c Config) CAKey() string { return filepath.Join(c.CADir(), "ca.key") }

// NodeKey is the local palyra-node's private key.
func (c Config) NodeKey() string { return filepath.Join(c.NodeHome(), "node.key") }

// Specs are the supervised services.
func (c Config) Specs() []supervisor.Spec {
	daemonPath, daemonArgv0, daemonArgs := command(c.DaemonBin, "daemon", DaemonName)
	browserdPath, browserdArgv0, browserdArgs := command(c.BrowserdBin, "browserd", BrowserdName)
	daemon := supervisor.Spec{
		Name:       Daemon,
		Path:       daemonPath,
		Argv0:      daemonArgv0,
		Args:       append(daemonArgs, "--home", c.Home, "--admin-addr", c.AdminAddr, c.adminTLSArg(), "--node-addr", c.NodeAddr),
		HealthAddr: "admin",
		WaitReady:  true,
		Critical:   true,
	}
	if c.AdminTLS {
		// Read for each run: palyrad makes the CA on its first start.
		daemon.HealthTLS = func() (*tls.Config, error) { return admintls.LoadClientConfig(c.CACert()) }
	}
	specs := []supervisor.Spec{
		daemon,
		{
			Name:       Browserd,
			Path:       browserdPath,
			Argv0:      browserdArgv0,
			Args:       append(browserdArgs, "--home", c.Home, "--addr", c.BrowserdAddr),
			HealthAddr: "grpc",
			WaitReady:  true,
		},
	}
	if _, err := os.Stat(filepath.Join(c.NodeHome(), "node.json")); err == nil {
		// Supervised, the node has no terminal to ask on: calls that need its operator
		// are denied. It runs while it waits for its gateway (the inventory shows whether
		// it is connected), so it does not wait for a ready line.
		specs = append(specs, supervisor.Spec{
			Name:  Node,
			Path:  selfExe,
			Argv0: NodeName,
			Args:  []string{"node", "run", "--home", c.NodeHome(), "--mediation", "deny"},
		})
	}
	return specs
}

// AdminTLS reports whether the supervised palyrad in s serves its admin API with TLS: the
// supervisor started it with the flag Specs gives it.
func AdminTLS(s supervisor.Snapshot) bool {
	for _, svc := range s.Services {
		if svc.Name == Daemon {
			return slices.Contains(svc.Command, Config{AdminTLS: true}.adminTLSArg())
		}
	}
	return false
}

// command is how a role runs: an installed bin under its own name, or this binary
// re-executed under the role's name.
func command(bin, role, name string) (path, argv0 string, args []string) {
	if bin != "" {
		return bin, bin, nil
	}
	return selfExe, name, []string{role}
}

// PreflightTarget describes the stack to the preflight checks; running gives the pid of each
// of this state directory's services that runs, whose own ports are not a conflict.
func (c Config) PreflightTarget(running map[string]int) preflight.Target {
	daemonPath, _, _ := command(c.DaemonBin, "daemon", DaemonName)
	browserdPath, _, _ := command(c.BrowserdBin, "browserd", BrowserdName)
	return preflight.Target{
		Home:        c.Home,
		Secrets:     []string{c.AdminTokenFile(), c.CAKey(), c.NodeKey()},
		PrivateDirs: []string{c.CADir()},
		Admin:       preflight.AdminAPI{Addr: c.AdminAddr, TLS: c.AdminTLS, Env: "PALYRA_ADMIN_ADDR"},
		Services: []preflight.Service{
			{Name: Daemon, Path: daemonPath, PID: running[Daemon], Ports: []preflight.Port{
				{Label: "admin API", Addr: c.AdminAddr, Env: "PALYRA_ADMIN_ADDR"},
				c.nodePort(),
			}},
			{Name: Browserd, Path: browserdPath, PID: running[Browserd], Ports: []preflight.Port{
				{Addr: c.BrowserdAddr, Env: "PALYRA_BROWSERD_ADDR"},
			}},
		},
	}
}

// nodePort is the node API's address as palyrad will bind it: with port 0, the port it
// chose at its first start and keeps for the nodes paired with it.
func (c Config) nodePort() preflight.Port {
	p := preflight.Port{Label: "node API", Addr: c.NodeAddr, Env: "PALYRA_NODE_ADDR", Kept: true}
	host, port, err := net.SplitHostPort(c.NodeAddr)
	if err != nil || port != "0" {
		return p
	}
	kept, err := nodeport.Load(c.Home)
	switch {
	case err != nil:
		p.Unknown = err
	case kept > 0:
		p.Addr = net.JoinHostPort(host, strconv.Itoa(kept))
	}
	return p
}
