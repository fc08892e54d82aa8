package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/palyra/palyra/internal/childenv"
	"github.com/palyra/palyra/internal/pidlock"
	"github.com/palyra/palyra/supervisor/api"
)

// Attach connects to the server for c, or reports api.ErrNotRunning.
func Attach(ctx context.Context, c Config) (*api.Client, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	client, err := api.Dial(c.Socket())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := client.GetSnapshot(ctx); err != nil {
		client.Close()
		return nil, err
	}
	return client, nil
}

// Ensure attaches to the server for c, first starting one in the background when none runs.
// The background server outlives the caller, its terminal and its SSH session. started says
// whether this call started it.
func Ensure(ctx context.Context, c Config) (client *api.Client, started bool, err error) {
	client, err = Attach(ctx, c)
	if err == nil || !errors.Is(err, api.ErrNotRunning) {
		return client, false, err
	}
	if err := os.MkdirAll(c.Home, 0o700); err != nil {
		return nil, false, fmt.Errorf("create state directory: %w", err)
	}
	logFile, err := os.OpenFile(c.ServeLog(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("open %s: %w", c.ServeLog(), err)
	}
	defer logFile.Close()
	start, _ := logFile.Seek(0, 2)

	cmd := exec.Command(selfExe, c.serveArgs()...)
	cmd.Args[0] = ServerName
	// The caller's token or pairing code must not live on in the server and its services.
	cmd.Env = childenv.Filter(os.Environ())
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own session: no controlling terminal, so a closed terminal or SSH connection sends
	// it no SIGHUP, and the caller's Ctrl-C reaches only the caller.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, false, fmt.Errorf("start supervisor: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	deadline := time.Now().Add(10 * time.Second)
	var exitErr error
	for {
		client, err = Attach(ctx, c)
		if err == nil {
			// Another caller may have won the race to start one; either way one answers.
			return client, exitErr == nil, nil
		}
		if exitErr != nil {
			// Ours is gone. If it lost the lock to a concurrent start, that one answers soon.
			if pidlock.LiveHolder(c.LockPath()) == 0 {
				return nil, false, fmt.Errorf("supervisor exited at once (%v): %s", exitErr, tail(c.ServeLog(), start))
			}
		}
		select {
		case exitErr = <-exited:
			exited = nil
			if exitErr == nil {
				exitErr = errors.New("exit 0")
			}
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, false, fmt.Errorf("supervisor did not answer on %s within 10s; see %s", c.Socket(), c.ServeLog())
		}
	}
}

// serveArgs hands the whole configuration to the background server explicitly, so it does not
// depend on which environment it inherits.
func (c Config) serveArgs() []string {
	args := []string{"serve", "--home", c.Home, "--admin-addr", c.AdminAddr, c.adminTLSArg(), "--node-addr", c.NodeAddr, "--browserd-addr", c.BrowserdAddr}
	if c.DaemonBin != "" {
		args = append(args, "--daemon-bin", c.DaemonBin)
	}
	if c.BrowserdBin != "" {
		args = append(args, "--browserd-bin", c.BrowserdBin)
	}
	return args
}

// tail returns what the server wrote to its log since offset, trimmed for an error message.
func tail(path string, offset int64) string {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < offset {
		return "see " + path
	}
	b = bytes.TrimSpace(b[offset:])
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	if len(b) == 0 {
		return "no output; see " + path
	}
	return string(b)
}
