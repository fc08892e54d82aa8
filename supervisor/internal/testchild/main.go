// Command testchild is a child process for the supervisor's tests. Each -mode is one behaviour
// the supervisor must handle: a healthy gRPC service, a crash, a child that ignores SIGTERM,
// a log flood, hostile output, a grandchild, and a whole supervisor to SIGKILL.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/palyra/palyra/internal/ready"
	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/supervisor/logs"
)

// Version is what the ready line reports.
const Version = "test-1"

func main() {
	mode := flag.String("mode", "ready", "ready | unhealthy | crash | ignore-term | flood | longline | garbage | spawn-grandchild | supervise")
	after := flag.Duration("after", 0, "crash, spawn-grandchild: exit after this long (spawn-grandchild: 0 waits for SIGTERM)")
	code := flag.Int("code", 1, "crash: exit code")
	unless := flag.String("unless", "", "crash: behave like -mode ready if this file exists")
	size := flag.Int("bytes", 1<<20, "flood: bytes of log lines to write; longline: length of the long line")
	dir := flag.String("dir", "", "supervise: log directory")
	flag.String("tag", "", "ignored; lets a test find its own processes in /proc")
	flag.Parse()

	if err := run(*mode, *after, *code, *unless, *size, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "testchild:", err)
		os.Exit(2)
	}
}

func run(mode string, after time.Duration, code int, unless string, size int, dir string) error {
	switch mode {
	case "ready":
		return serve(healthpb.HealthCheckResponse_SERVING)
	case "unhealthy":
		return serve(healthpb.HealthCheckResponse_NOT_SERVING)
	case "crash":
		if _, err := os.Stat(unless); unless != "" && err == nil {
			return serve(healthpb.HealthCheckResponse_SERVING)
		}
		fmt.Fprintf(os.Stderr, "crashing with code %d in %s\n", code, after)
		time.Sleep(after)
		os.Exit(code)
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		if err := announce(nil); err != nil {
			return err
		}
		waitForever()
	case "flood":
		if err := flood(size); err != nil {
			return err
		}
		return serve(healthpb.HealthCheckResponse_SERVING)
	case "longline":
		w := bufio.NewWriter(os.Stdout)
		w.WriteString(strings.Repeat("x", size) + "\nafter the long line\n")
		if err := w.Flush(); err != nil {
			return err
		}
		return serve(healthpb.HealthCheckResponse_SERVING)
	case "garbage":
		fmt.Print("bad utf-8 \xff\xfe\xc3(\n\x1b[2J\x1b]0;pwned\x07 title\n\x00nul\rcarriage\n\x1b[31mred\x1b[0m\n")
		return serve(healthpb.HealthCheckResponse_SERVING)
	case "spawn-grandchild":
		return spawnGrandchild(after)
	case "supervise":
		return supervise(dir)
	}
	return fmt.Errorf("unknown mode %q", mode)
}

// serve answers grpc.health.v1 on a free loopback port, prints the ready line and serves
// until SIGTERM.
func serve(health healthpb.HealthCheckResponse_ServingStatus) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	hs := newHealthServer(health)
	healthpb.RegisterHealthServer(srv, hs)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	if err := announce(map[string]string{"grpc": l.Addr().String()}); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		srv.Stop()
		return nil
	case err := <-served:
		return err
	}
}

func newHealthServer(status healthpb.HealthCheckResponse_ServingStatus) *health.Server {
	hs := health.NewServer()
	hs.SetServingStatus("", status)
	return hs
}

func announce(addrs map[string]string) error {
	return ready.Print(os.Stdout, ready.Line{Service: "testchild", Version: Version, PID: os.Getpid(), Addrs: addrs})
}

// flood writes size bytes of numbered 100-byte log lines as fast as it can.
func flood(size int) error {
	w := bufio.NewWriterSize(os.Stdout, 64<<10)
	pad := strings.Repeat("y", 60)
	for n, i := 0, 0; n < size; i++ {
		k, err := fmt.Fprintf(w, "level=info msg=\"flood line %010d\" %s\n", i, pad)
		if err != nil {
			return err
		}
		n += k
	}
	return w.Flush()
}

// spawnGrandchild leaves a `sleep 1000` in its process group and reports its pid as the
// ready line's "grandchild" address. It exits after the given time, or on SIGTERM.
func spawnGrandchild(after time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	sleep := exec.Command("sleep", "1000")
	if err := sleep.Start(); err != nil {
		return err
	}
	if err := announce(map[string]string{"grandchild": strconv.Itoa(sleep.Process.Pid)}); err != nil {
		return err
	}
	if after > 0 {
		time.Sleep(after)
		return nil
	}
	<-ctx.Done()
	return nil
}

// supervise runs a supervisor with two children of this binary, one of them ignoring
// SIGTERM, prints "pids A B" once both run, and serves until killed.
func supervise(dir string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	store, err := logs.Open(logs.Options{Dir: dir})
	if err != nil {
		return err
	}
	sup := supervisor.New(supervisor.Config{
		Specs: []supervisor.Spec{
			{Name: "ready", Path: self, Args: []string{"-mode", "ready"}, WaitReady: true},
			{Name: "stubborn", Path: self, Args: []string{"-mode", "ignore-term"}, WaitReady: true},
		},
		Policy: supervisor.DefaultPolicy(),
		Logs:   store,
	})
	changed, _ := sup.Watch()
	go sup.Run(context.Background())
	for {
		<-changed
		var pids []string
		for _, s := range sup.Snapshot().Services {
			if s.State == supervisor.StateRunning {
				pids = append(pids, strconv.Itoa(s.PID))
			}
		}
		if len(pids) == 2 {
			fmt.Println("pids " + strings.Join(pids, " "))
			waitForever()
		}
	}
}

func waitForever() {
	for {
		time.Sleep(time.Hour)
	}
}
