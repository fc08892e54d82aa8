// Package nodemain is palyra-node's main: subcommands, flags, logger, signals and exit codes.
// `run` is a service like palyrad (JSON logs on stderr, a ready line on stdout); `pair`,
// `status` and `unpair` talk to the operator in plain lines.
package nodemain

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/palyra/palyra/cmd/internal/servicemain"
	"github.com/palyra/palyra/internal/buildinfo"
	"github.com/palyra/palyra/internal/pidlock"
	"github.com/palyra/palyra/internal/procname"
	"github.com/palyra/palyra/internal/statedir"
)

// Exit codes. Scripts may rely on them.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitInterrupted = 130 // like a shell reports a command ended by Ctrl-C
)

// HomeEnv names the environment variable for the identity directory.
const HomeEnv = "PALYRA_NODE_HOME"

// LockFile, inside the identity directory, makes one palyra-node pair or run its user.
const LockFile = "node.lock"

const usage = `usage: palyra-node <command> [flags]

Commands:
  pair      pair this node with a gateway; the operator approves it in palyra-tui
  run       connect to the gateway and serve the calls it sends
  status    show this node's identity and whether the gateway accepts it
  unpair    revoke this node at the gateway and delete its identity
  version   print the version

Run 'palyra-node <command> -h' for a command's flags.
`

// Main runs palyra-node with args (without the program name) and returns its exit code.
func Main(args []string) int {
	procname.Set("palyra-node")
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return exitUsage
	}
	commands := map[string]func([]string) int{
		"pair": pair, "run": run, "status": status, "unpair": unpair,
	}
	switch cmd := args[0]; cmd {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(os.Stdout, usage)
		return exitOK
	case "version":
		fmt.Println("palyra-node", buildinfo.Version)
		return exitOK
	default:
		if f, ok := commands[cmd]; ok {
			return f(args[1:])
		}
		fmt.Fprintf(os.Stderr, "palyra-node: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
}

const homeUsage = "identity directory (env " + HomeEnv + ")"

// defaultHome is $PALYRA_NODE_HOME, else node/ in the shared state directory.
func defaultHome() string {
	return servicemain.EnvOr(HomeEnv, filepath.Join(statedir.Default(), "node"))
}

// homeFlag registers --home on fs.
func homeFlag(fs *flag.FlagSet) *string { return fs.String("home", defaultHome(), homeUsage) }

// parse parses args and returns -1 to go on, or the exit code to stop with.
func parse(fs *flag.FlagSet, args []string) int {
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return exitUsage
	}
	return -1
}

// usageError reports a wrong invocation.
func usageError(fs *flag.FlagSet, format string, a ...any) int {
	fmt.Fprintf(os.Stderr, "%s: %s\n", fs.Name(), fmt.Sprintf(format, a...))
	return exitUsage
}

// failure reports err and returns the exit code for it: 130 when a signal ended ctx.
func failure(ctx context.Context, w io.Writer, name string, err error) int {
	if ctx.Err() != nil {
		fmt.Fprintf(w, "%s: interrupted\n", name)
		return exitInterrupted
	}
	fmt.Fprintf(w, "%s: %v\n", name, err)
	return exitFailure
}

// signalContext ends when the operator presses Ctrl-C or the process gets SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// lockHome creates the identity directory if needed and takes its lock.
func lockHome(home string) (*pidlock.Lock, error) {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("identity directory: %w", err)
	}
	lock, err := pidlock.Acquire(filepath.Join(home, LockFile))
	var held *pidlock.HeldError
	if errors.As(err, &held) {
		return nil, fmt.Errorf("%w (another palyra-node pair or run on %s?)", err, home)
	}
	return lock, err
}
