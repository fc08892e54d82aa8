// Package servicemain is what the mains of palyrad and palyra-browserd share: flag parsing
// with meaningful exit codes, a JSON logger on stderr, a context ended by SIGTERM or SIGINT,
// and one structured line for the error that stops the service.
package servicemain

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// RunFunc is a service's body: it serves until ctx ends. Stdout carries only the ready line.
type RunFunc func(ctx context.Context, log *slog.Logger, stdout io.Writer) error

// Run parses args with fs, then runs run until SIGTERM or SIGINT, and returns the exit code:
// 0 after a clean stop or -h, 1 when run fails, 2 for wrong arguments.
func Run(fs *flag.FlagSet, args []string, run RunFunc) int {
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
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, log, os.Stdout); err != nil {
		log.Error(fs.Name()+" failed", "err", err)
		return exitFailure
	}
	return exitOK
}

// EnvBool reports whether the environment variable key is set to 1 or true (any case).
func EnvBool(key string) bool {
	v, _ := strconv.ParseBool(os.Getenv(key))
	return v
}

// EnvOr returns the environment variable key, or def when it is unset or empty.
func EnvOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
