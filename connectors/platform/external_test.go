package platform_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/palyra/palyra/connectors"
	"github.com/palyra/palyra/connectors/outbox"
	"github.com/palyra/palyra/connectors/platform"
	"github.com/palyra/palyra/connectors/providers/echo"
)

// named is Echo under another kind.
type named struct {
	*echo.Provider
	kind string
}

func (n named) Describe(ctx context.Context) (connectors.Description, error) {
	d, err := n.Provider.Describe(ctx)
	d.Kind = n.kind
	return d, err
}

// writePlugin puts an external plugin of kind ext in dir: a script that runs this test
// binary as Echo under that kind. extra changes the file, and so its SHA-256.
func writePlugin(t *testing.T, dir, extra string) string {
	t.Helper()
	script := fmt.Sprintf("#!/bin/sh\n# %s\nexec %q %s ext\n", extra, os.Args[0], pluginArg)
	path := filepath.Join(dir, "palyra-connector-ext")
	if err := os.WriteFile(path+".new", []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil { // as an operator's install would
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(script))
	return hex.EncodeToString(sum[:])
}

func startPlatform(t *testing.T, st *outbox.Store, dir string) (*platform.Platform, func()) {
	t.Helper()
	p := platform.New(platform.Config{Store: st, PluginDir: dir,
		Plugins: map[string]platform.Plugin{echo.Kind: platform.InProcess(echo.Kind, echo.New("test"))}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return p, stop
}

func pluginState(t *testing.T, p *platform.Platform, kind string) platform.PluginFile {
	t.Helper()
	files, err := p.Plugins()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Kind == kind {
			return f
		}
	}
	t.Fatalf("no plugin %s in %+v", kind, files)
	return platform.PluginFile{}
}

func waitView(t *testing.T, p *platform.Platform, id, what string, ok func(platform.View) bool) platform.View {
	t.Helper()
	var v platform.View
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var err error
		if v, err = p.Get(id); err == nil && ok(v) {
			return v
		}
	}
	t.Fatalf("timed out waiting for %s: %+v readiness %s %s, plugin %+v", what, v.Instance, v.Readiness, v.Detail, v.Plugin)
	return v
}

func sendAndWait(t *testing.T, p *platform.Platform, id string, delivered uint64) {
	t.Helper()
	if _, err := p.Send(context.Background(), id, platform.Outbound{ConversationID: "c", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	waitView(t, p, id, fmt.Sprintf("%d delivered", delivered), func(v platform.View) bool { return v.Counts.Delivered == delivered })
}

// An external plugin runs only once trusted at the SHA-256 it has, keeps its pin across
// palyrad's restarts, is not launched again once its file changes until trusted again,
// and is forgotten only when no connector uses it.
func TestExternalPluginsRunOnlyAsPinned(t *testing.T) {
	dir := t.TempDir()
	sum := writePlugin(t, dir, "v1")
	st, err := outbox.Open(filepath.Join(t.TempDir(), outbox.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p, stop := startPlatform(t, st, dir)
	ctx := context.Background()

	if f := pluginState(t, p, "ext"); f.State != platform.PluginUntrusted || f.SHA256 != sum || !strings.Contains(f.Problem, "channels trust ext") {
		t.Fatalf("before trust: %+v", f)
	}
	if f := pluginState(t, p, echo.Kind); f.State != platform.PluginBuiltIn {
		t.Fatalf("echo: %+v", f)
	}
	if _, err := p.Add(ctx, "ext:a", nil); !errors.Is(err, platform.ErrUnknownKind) {
		t.Fatalf("a connector of an untrusted kind: %v", err)
	}
	if _, err := p.Trust(ctx, "ext", strings.Repeat("0", 64), "admin"); !errors.Is(err, platform.ErrInvalid) || !strings.Contains(err.Error(), sum) {
		t.Fatalf("trust with another SHA-256: %v", err)
	}
	if _, err := p.Trust(ctx, "echo", "", "admin"); !errors.Is(err, platform.ErrInvalid) {
		t.Fatalf("trust a built-in kind: %v", err)
	}
	if _, err := p.Trust(ctx, "nothing", "", "admin"); !errors.Is(err, platform.ErrInvalid) {
		t.Fatalf("trust a kind with no file: %v", err)
	}
	if f, err := p.Trust(ctx, "ext", strings.ToUpper(sum), "admin"); err != nil || f.State != platform.PluginTrusted {
		t.Fatalf("trust: %+v, %v", f, err)
	}
	if _, err := p.Add(ctx, "ext:a", nil); err != nil {
		t.Fatal(err)
	}
	waitView(t, p, "ext:a", "ready", func(v platform.View) bool { return v.Readiness == connectors.Ready })
	sendAndWait(t, p, "ext:a", 1)

	// palyrad restarts: the pin is kept.
	stop()
	p, stop = startPlatform(t, st, dir)
	v := waitView(t, p, "ext:a", "ready after a restart", func(v platform.View) bool { return v.Readiness == connectors.Ready })
	sendAndWait(t, p, "ext:a", 2)

	// Trusting the same file again changes nothing that runs.
	if _, err := p.Trust(ctx, "ext", sum, "admin"); err != nil {
		t.Fatal(err)
	}
	if again, _ := p.Get("ext:a"); again.Plugin.PID != v.Plugin.PID || again.Readiness != connectors.Ready {
		t.Fatalf("trusting the same file again restarted its plugin: pid %d → %d, %s", v.Plugin.PID, again.Plugin.PID, again.Readiness)
	}

	// The file changes under palyrad; its next launch is refused.
	changed := writePlugin(t, dir, "v2")
	if f := pluginState(t, p, "ext"); f.State != platform.PluginChanged || f.SHA256 != changed || f.Pin.SHA256 != sum {
		t.Fatalf("after the change: %+v", f)
	}
	killed := v.Plugin.PID
	if err := syscall.Kill(killed, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitView(t, p, "ext:a", "the changed file refused", func(v platform.View) bool {
		return strings.Contains(v.Plugin.LastError, "SHA-256 no longer matches")
	})

	// The operator trusts the new file.
	if _, err := p.Trust(ctx, "ext", changed, "admin"); err != nil {
		t.Fatal(err)
	}
	waitView(t, p, "ext:a", "ready in the new file", func(v platform.View) bool {
		return v.Readiness == connectors.Ready && v.Plugin.PID != 0 && v.Plugin.PID != killed
	})
	sendAndWait(t, p, "ext:a", 3)

	if err := p.Untrust(ctx, "ext"); !errors.Is(err, platform.ErrInUse) || !strings.Contains(err.Error(), "ext:a") {
		t.Fatalf("untrust a kind in use: %v", err)
	}
	if err := p.Remove(ctx, "ext:a"); err != nil {
		t.Fatal(err)
	}
	if err := p.Untrust(ctx, "ext"); err != nil {
		t.Fatal(err)
	}
	if f := pluginState(t, p, "ext"); f.State != platform.PluginUntrusted {
		t.Fatalf("after untrust: %+v", f)
	}
	if _, err := p.Add(ctx, "ext:b", nil); !errors.Is(err, platform.ErrUnknownKind) {
		t.Fatalf("a connector of a forgotten kind: %v", err)
	}
}
