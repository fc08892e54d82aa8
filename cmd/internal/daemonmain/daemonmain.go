// Package daemonmain is palyrad's main: flags, logger, signals and wiring. Both cmd/palyrad
// and `palyra-tui daemon` run it.
package daemonmain

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/palyra/palyra/cmd/internal/servicemain"
	"github.com/palyra/palyra/connectors"
	"github.com/palyra/palyra/connectors/outbox"
	"github.com/palyra/palyra/daemon"
	"github.com/palyra/palyra/daemon/access"
	"github.com/palyra/palyra/daemon/secrets"
	"github.com/palyra/palyra/daemon/store"
	"github.com/palyra/palyra/internal/admintls"
	"github.com/palyra/palyra/internal/buildinfo"
	"github.com/palyra/palyra/internal/grpcserve"
	"github.com/palyra/palyra/internal/procname"
	"github.com/palyra/palyra/internal/ready"
	"github.com/palyra/palyra/internal/statedir"
)

type config struct {
	home          string
	adminAddr     string
	adminTLS      bool
	nodeAddr      string
	nodeAdvertise string
	pluginDir     string
}

// Main runs palyrad with args (without the program name) until SIGTERM or SIGINT and returns
// its exit code. Stdout carries only the ready line; logs go to stderr as JSON.
func Main(args []string) int {
	procname.Set("palyrad")
	fs := flag.NewFlagSet("palyrad", flag.ContinueOnError)
	var cfg config
	fs.StringVar(&cfg.home, "home", statedir.Default(), "state directory (env PALYRA_HOME)")
	fs.StringVar(&cfg.adminAddr, "admin-addr", servicemain.EnvOr("PALYRA_ADMIN_ADDR", "127.0.0.1:7443"),
		"admin gRPC address; port 0 picks a free port; off loopback it needs --admin-tls (env PALYRA_ADMIN_ADDR)")
	fs.BoolVar(&cfg.adminTLS, "admin-tls", servicemain.EnvBool("PALYRA_ADMIN_TLS"),
		"serve the admin API with TLS, a certificate from the gateway CA (<home>/pki/ca.crt, which clients pin) (env PALYRA_ADMIN_TLS=1)")
	fs.StringVar(&cfg.nodeAddr, "node-addr", servicemain.EnvOr("PALYRA_NODE_ADDR", "127.0.0.1:7444"),
		"node API address (TLS); use 0.0.0.0:7444 to let nodes on other machines pair; port 0 picks a free port once and keeps it (env PALYRA_NODE_ADDR)")
	fs.StringVar(&cfg.nodeAdvertise, "node-advertise", servicemain.EnvOr("PALYRA_NODE_ADVERTISE", ""),
		"the node API address nodes should dial, put in pairing codes; default: the bound address (env PALYRA_NODE_ADVERTISE)")
	fs.StringVar(&cfg.pluginDir, "plugin-dir", servicemain.EnvOr("PALYRA_PLUGIN_DIR", ""),
		"where external connector plugins (palyra-connector-<kind> executables) are looked for; default <home>/plugins (env PALYRA_PLUGIN_DIR)")
	return servicemain.Run(fs, args, func(ctx context.Context, log *slog.Logger, stdout io.Writer) error {
		return run(ctx, cfg, log, stdout)
	})
}

func run(ctx context.Context, cfg config, log *slog.Logger, stdout io.Writer) (err error) {
	if !cfg.adminTLS && admintls.Exposed(cfg.adminAddr) {
		return fmt.Errorf("admin address %s is reachable from other machines, and the admin API's bearer tokens would cross the network in the clear: add --admin-tls (PALYRA_ADMIN_TLS=1) to serve it with TLS, or bind it to 127.0.0.1 (--admin-addr 127.0.0.1:7443)", cfg.adminAddr)
	}
	home, err := filepath.Abs(cfg.home)
	if err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}

	st, err := store.Open(filepath.Join(home, store.FileName))
	if err != nil {
		return err
	}
	defer func() {
		if closeErr := st.Close(); closeErr != nil {
			err = errors.Join(err, closeErr)
		}
	}()
	conns, err := outbox.Open(filepath.Join(home, outbox.FileName))
	if err != nil {
		return err
	}
	defer func() {
		if closeErr := conns.Close(); closeErr != nil {
			err = errors.Join(err, closeErr)
		}
	}()
	// The credentials' key lives in a directory of its own, apart from connectors.db.
	vault, err := secrets.Open(filepath.Join(home, secrets.DirName))
	if err != nil {
		return err
	}
	plugins, err := connectorPlugins(log)
	if err != nil {
		return err
	}
	pluginDir := cfg.pluginDir
	if pluginDir == "" {
		pluginDir = filepath.Join(home, "plugins")
	}
	if pluginDir, err = filepath.Abs(pluginDir); err != nil {
		return fmt.Errorf("connector plugin directory: %w", err)
	}
	if err := os.MkdirAll(pluginDir, 0o700); err != nil {
		return fmt.Errorf("connector plugin directory: %w", err)
	}
	// The admin token exists from the first start, so operators and the UI can read it from
	// the state directory; it never goes into arguments or logs.
	adminToken, err := access.LoadOrCreateAdminToken(filepath.Join(home, access.AdminTokenFile))
	if err != nil {
		return err
	}

	admin, err := grpcserve.Listen(cfg.adminAddr, "palyrad", "--admin-addr/PALYRA_ADMIN_ADDR")
	if err != nil {
		return err
	}
	node, err := listenNode(home, cfg.nodeAddr)
	if err != nil {
		admin.Close()
		return err
	}
	d, err := daemon.New(daemon.Config{
		Home: home, Store: st, AdminToken: adminToken, Admin: admin, AdminTLS: cfg.adminTLS, Node: node,
		NodeAdvertise: cfg.nodeAdvertise, Connectors: conns, Plugins: plugins, PluginDir: pluginDir, Secrets: vault,
		Credentials: func(in outbox.Instance, d connectors.Description) (map[string][]byte, error) {
			return vault.Credentials(in.Config, d.Config)
		},
		Logger: log,
	})
	if err != nil {
		admin.Close()
		node.Close()
		return err
	}

	addr, nodeAddr := admin.Addr().String(), node.Addr().String()
	err = ready.Print(stdout, ready.Line{
		Service: "daemon",
		Version: buildinfo.Version,
		PID:     os.Getpid(),
		Addrs:   map[string]string{"admin": addr, "node": nodeAddr},
	})
	if err != nil {
		admin.Close()
		node.Close()
		return err
	}
	log.Info("palyrad started", "version", buildinfo.Version, "pid", os.Getpid(), "home", home, "admin_addr", addr, "admin_tls", cfg.adminTLS, "node_addr", nodeAddr)
	if err := d.Run(ctx); err != nil {
		return err
	}
	log.Info("palyrad stopped")
	return nil
}
