// Command palyra-tui is the Palyra control center: a terminal UI and headless commands over a
// supervisor server that runs palyrad and palyra-browserd. The same binary also plays those
// roles (`serve`, `daemon`, `browserd`, `node`) so one `go run` brings up the whole stack.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/palyra/palyra/cmd/internal/browserdmain"
	"github.com/palyra/palyra/cmd/internal/connectormain"
	"github.com/palyra/palyra/cmd/internal/daemonmain"
	"github.com/palyra/palyra/cmd/internal/nodemain"
	"github.com/palyra/palyra/internal/buildinfo"
	"github.com/palyra/palyra/supervisor/stack"
)

// Exit codes. Scripts may rely on them; the README documents them.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitDegraded = 3
)

// exitError carries a specific exit code up to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	// The roles this binary plays for the supervisor are dispatched before cobra, so their
	// flags stay their own and nothing else is set up in the child.
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "daemon":
			os.Exit(daemonmain.Main(os.Args[2:]))
		case "browserd":
			os.Exit(browserdmain.Main(os.Args[2:]))
		case "node":
			os.Exit(nodemain.Main(os.Args[2:]))
		case "connector":
			os.Exit(connectormain.Main(os.Args[2:]))
		}
	}
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	root := newRootCmd()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(os.Stderr, "palyra-tui:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "palyra-tui:", err)
	if isUsage(err) {
		return exitUsage
	}
	return exitFailure
}

// usageError marks a wrong invocation (exit 2).
type usageError struct{ error }

func isUsage(err error) bool {
	var u usageError
	return errors.As(err, &u)
}

// globals are the flags every command shares.
type globals struct {
	cfg       stack.Config
	gateway   string // palyrad's admin address for the gateway commands; "" finds it
	tokenFile string // "" means <home>/admin.token
	gatewayCA string // the gateway CA certificate to dial palyrad with TLS; "" finds it
}

func newRootCmd() *cobra.Command {
	g := &globals{cfg: stack.FromEnv()}
	var embedded bool
	root := &cobra.Command{
		Use:   "palyra-tui",
		Short: "Terminal control center for the Palyra gateway",
		Long: "palyra-tui supervises palyrad and palyra-browserd and shows them in a terminal UI.\n" +
			"With no command it opens the UI, starting the supervisor in the background if needed;\n" +
			"quitting the UI leaves everything running.",
		Version:       buildinfo.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown command %q; see palyra-tui --help", args[0])}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTUI(cmd.Context(), g, embedded)
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.PersistentFlags().StringVar(&g.cfg.Home, "home", g.cfg.Home, "state directory (env PALYRA_HOME)")
	addStackFlags(root, &g.cfg)
	addGatewayFlags(root, g)
	root.Flags().BoolVar(&embedded, "embedded", false, "run the supervisor inside this process; quitting stops the services")
	root.AddCommand(
		newServeCmd(g),
		newStatusCmd(g),
		newLogsCmd(g),
		newServicesCmd(g),
		newDoctorCmd(g),
		newShutdownCmd(g),
		newPairCmd(g),
		newInventoryCmd(g),
		newApprovalsCmd(g),
		newTokensCmd(g),
		newAuditCmd(g),
		newChannelsCmd(g),
		newSecretsCmd(g),
	)
	for _, c := range root.Commands() {
		c.SilenceUsage = true
	}
	return root
}

// interruptible makes SIGINT and SIGTERM end cmd's context, for a command that waits or
// follows; it returns the func that lets go of the signals.
func interruptible(cmd *cobra.Command) (stop func()) {
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	cmd.SetContext(ctx)
	return stop
}

// exactArgs is cobra.ExactArgs reporting a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}
