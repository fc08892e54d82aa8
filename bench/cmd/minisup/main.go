// Command minisup runs one command under the real supervisor package, with the restart
// backoff set to zero and no limit on failed starts, until SIGTERM or SIGINT. `just bench`
// uses it to time crash → restart with the backoff excluded, which is how our target is
// stated; the other timings are the defaults.
//
//	minisup [-name crash] [-logs DIR] [-backoff 0s] [-file-max-bytes N] -- /path/to/program [args...]
//
// The program gets what the supervisor hands on of minisup's environment: the allow-list of
// internal/childenv and the names in PALYRA_PASS_ENV. -file-max-bytes lets the log flood keep every
// line on disk, which the default rotation (16 MiB, 3 old files) would not.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/supervisor/logs"
)

func main() {
	name := flag.String("name", "crash", "service name")
	logDir := flag.String("logs", "", "log directory (default: a temporary one, removed on exit)")
	backoff := flag.Duration("backoff", 0, "first restart delay (0: restart at once)")
	fileMax := flag.Int64("file-max-bytes", 0, "log file rotation size (0: the log store's default)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "minisup:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: minisup [flags] -- program [args...]")
		os.Exit(2)
	}
	if err := run(*name, *logDir, *backoff, *fileMax, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "minisup:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(name, logDir string, backoff time.Duration, fileMax int64, argv []string) error {
	if logDir == "" {
		dir, err := os.MkdirTemp("", "minisup-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		logDir = dir
	}
	store, err := logs.Open(logs.Options{Dir: logDir, FileMaxBytes: fileMax})
	if err != nil {
		return fmt.Errorf("open log store: %w", err)
	}
	defer store.Close()

	policy := supervisor.DefaultPolicy()
	policy.BackoffInitial = backoff
	policy.FatalAfter = 1 << 30 // the benchmark crashes on purpose; never give up

	sup := supervisor.New(supervisor.Config{
		Specs:  []supervisor.Spec{{Name: name, Path: argv[0], Args: argv[1:]}},
		Policy: policy,
		Logs:   store,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Home:   logDir,
	})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return sup.Run(ctx)
}
