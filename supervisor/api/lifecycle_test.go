package api

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

func TestShutdown(t *testing.T) {
	r := newRig(t)
	if err := r.client.Shutdown(testCtx(t)); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case <-r.shutdown:
	case <-time.After(waitTimeout):
		t.Fatal("the Shutdown callback did not run")
	}
	// The callback stops the server; then nothing answers.
	var err error
	poll(t, "the server stops answering", func() bool {
		_, err = r.client.GetSnapshot(testCtx(t))
		return err != nil
	})
	if !errors.Is(err, ErrNotRunning) {
		t.Errorf("GetSnapshot after shutdown: %v, want ErrNotRunning", err)
	}
}

// Stop ends the open streams, which otherwise would hold it up and keep the clients waiting.
func TestStopEndsOpenStreams(t *testing.T) {
	r := newRig(t)
	ctx := testCtx(t)
	watch, err := r.client.WatchSnapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Recv(); err != nil {
		t.Fatal(err)
	}
	follow, err := r.client.Logs(ctx, LogQuery{Tail: 1, Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	// The stored line comes after the subscription, so the stream is in its follow loop.
	if _, err := follow.Recv(); err != nil {
		t.Fatal(err)
	}
	// The same streams without the client's error mapping show who ended them: the server,
	// or only the hard stop that follows a graceful stop that hangs.
	rawWatch, err := r.client.rpc.WatchSnapshots(ctx, &palyrav1.WatchSnapshotsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rawWatch.Recv(); err != nil {
		t.Fatal(err)
	}
	rawFollow, err := r.client.rpc.Logs(ctx, &palyrav1.LogsRequest{Tail: 1, Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rawFollow.Recv(); err != nil {
		t.Fatal(err)
	}

	stopped := make(chan struct{})
	go func() {
		r.stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(waitTimeout):
		t.Fatal("Stop did not return")
	}
	// ctx bounds both reads: a stream left open ends with DeadlineExceeded instead.
	for {
		if _, err := watch.Recv(); err != nil {
			if !errors.Is(err, ErrNotRunning) {
				t.Errorf("the snapshot stream ended with %v, want ErrNotRunning", err)
			}
			break
		}
	}
	for {
		if _, err := follow.Recv(); err != nil {
			if !errors.Is(err, ErrNotRunning) {
				t.Errorf("the log stream ended with %v, want ErrNotRunning", err)
			}
			break
		}
	}
	for name, recv := range map[string]func() error{
		"snapshot": func() error { _, err := rawWatch.Recv(); return err },
		"log":      func() error { _, err := rawFollow.Recv(); return err },
	} {
		for {
			if err := recv(); err != nil {
				if st := status.Convert(err); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "shutting down") {
					t.Errorf("the raw %s stream ended with %v, want Unavailable: the supervisor is shutting down", name, err)
				}
				break
			}
		}
	}
}

func TestNoServer(t *testing.T) {
	dir, err := os.MkdirTemp("", "api-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()

	for name, socket := range map[string]string{
		"no socket file": filepath.Join(dir, "missing.sock"),
		"stale socket":   stale,
	} {
		t.Run(name, func(t *testing.T) {
			c := dial(t, socket)
			ctx := testCtx(t)
			if _, err := c.GetSnapshot(ctx); !errors.Is(err, ErrNotRunning) {
				t.Errorf("GetSnapshot: %v, want ErrNotRunning", err)
			}
			if _, err := c.StopService(ctx, "all"); !errors.Is(err, ErrNotRunning) {
				t.Errorf("StopService: %v, want ErrNotRunning", err)
			}
			if err := c.Shutdown(ctx); !errors.Is(err, ErrNotRunning) {
				t.Errorf("Shutdown: %v, want ErrNotRunning", err)
			}
			w, err := c.WatchSnapshots(ctx)
			if err == nil {
				_, err = w.Recv()
			}
			if !errors.Is(err, ErrNotRunning) {
				t.Errorf("WatchSnapshots: %v, want ErrNotRunning", err)
			}
			s, err := c.Logs(ctx, LogQuery{Follow: true})
			if err == nil {
				_, err = s.Recv()
			}
			if !errors.Is(err, ErrNotRunning) {
				t.Errorf("Logs: %v, want ErrNotRunning", err)
			}
		})
	}
}

// Listen replaces a file left at the socket's path and makes the socket owner-only.
func TestListenReplacesStaleFile(t *testing.T) {
	dir, err := os.MkdirTemp("", "api-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "s.sock")
	if err := os.WriteFile(path, []byte("left by a crash"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Type() != os.ModeSocket || st.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v, want a socket with 0600", st.Mode())
	}
	if _, err := Listen(filepath.Join(dir, "missing", "s.sock")); err == nil {
		t.Error("Listen in a missing directory succeeded")
	}
}
