package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

func TestMain(m *testing.M) {
	if os.Getenv("PALYRA_ENGINE_HELPER") == "1" {
		runHelper()
		return
	}
	code := m.Run()
	closeShared()
	os.Exit(code)
}

// runHelper is the re-executed test binary of TestBrowserDiesWithBrowserd: it starts an
// engine with a session, says where its browser's profile is, and waits to be killed.
func runHelper() {
	e := New(Config{ChromiumPath: os.Getenv("PALYRA_CHROMIUM"), DownloadDir: os.Getenv("PALYRA_ENGINE_HELPER_DIR")})
	if err := e.Start(context.Background()); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	if _, err := e.Create(context.Background()); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	e.mu.Lock()
	fmt.Println("ready", e.browser.pid, e.browser.userDataDir)
	e.mu.Unlock()
	select {}
}

func TestBrowserDiesWithBrowserd(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PALYRA_ENGINE_HELPER=1", "PALYRA_ENGINE_HELPER_DIR="+t.TempDir())
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	var dir string
	if _, err := fmt.Sscan(line, new(string), &pid, &dir); err != nil || !strings.HasPrefix(line, "ready") {
		t.Fatalf("helper said %q", line)
	}
	if n := len(chromiumWith(dir)); n < 3 {
		t.Fatalf("only %d chromium processes before the kill", n)
	}
	before := len(chromiumWith(dir))
	killed := time.Now()
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	eventually(t, 10*time.Second, "no chromium left after browserd's SIGKILL", func() bool {
		return len(chromiumWith(dir)) == 0
	})
	t.Logf("%d chromium processes gone %s after the SIGKILL", before, time.Since(killed).Round(time.Millisecond))
	// The next engine's Start sweeps the profile its dead browser left (once a minute old).
	backdate := time.Now().Add(-2 * time.Minute)
	os.Chtimes(dir, backdate, backdate)
	sweepProfiles()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the dead browser's profile %s was not swept: %v", dir, err)
	}
}

func TestCloseDisposesContext(t *testing.T) {
	t.Parallel()
	e := sharedEngine(t)
	id := create(t, e)
	s, _ := e.lookup(id)
	ctxID := s.contextID
	if !hasContext(t, e, ctxID) {
		t.Fatal("no browser context after Create")
	}
	if _, err := os.Stat(s.dir); err != nil {
		t.Fatal(err)
	}
	if err := e.CloseSession(id); err != nil {
		t.Fatal(err)
	}
	if hasContext(t, e, ctxID) {
		t.Fatal("the browser context outlived its session")
	}
	if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
		t.Fatalf("download dir after close: %v", err)
	}
	if _, err := e.Title(context.Background(), id); !errors.Is(err, ErrSessionEnded) {
		t.Fatalf("action on a closed session: %v", err)
	}
	if _, err := e.Get("nope"); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("unknown session: %v", err)
	}
}

func hasContext(t *testing.T, e *Engine, id any) bool {
	t.Helper()
	e.mu.Lock()
	b := e.browser
	e.mu.Unlock()
	res, err := chromedp.CallBrowser(b.ctx, target.GetBrowserContexts, struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.BrowserContextIDs {
		if any(c) == id {
			return true
		}
	}
	return false
}

func TestMaxSessions(t *testing.T) {
	t.Parallel()
	e := startEngine(t, Config{MaxSessions: 2})
	a := create(t, e)
	create(t, e)
	if _, err := e.Create(context.Background()); !errors.Is(err, ErrTooManySessions) {
		t.Fatalf("third session: %v", err)
	}
	if got := len(e.List()); got != 2 {
		t.Fatalf("List has %d", got)
	}
	e.CloseSession(a)
	create(t, e)
}

func TestIdleTTLAndLifetime(t *testing.T) {
	e := startEngine(t, Config{IdleTTL: 600 * time.Millisecond, Lifetime: time.Hour, ReapInterval: 50 * time.Millisecond})
	idle, busy := create(t, e), create(t, e)
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if _, err := e.Title(context.Background(), busy); err != nil {
			t.Fatalf("busy session: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := e.Get(idle); !errors.Is(err, ErrExpired) || !strings.Contains(err.Error(), "idle") {
		t.Fatalf("idle session: %v", err)
	}
	if _, err := e.Get(busy); err != nil {
		t.Fatalf("busy session: %v", err)
	}

	e.mu.Lock() // the reaper reads cfg under mu
	e.cfg.Lifetime = 200 * time.Millisecond
	e.mu.Unlock()
	eventually(t, 2*time.Second, "old session reaped", func() bool {
		_, err := e.Get(busy)
		return errors.Is(err, ErrExpired) && strings.Contains(err.Error(), "lifetime")
	})
}

func TestActionBudget(t *testing.T) {
	// One action a second and two in all; the window arithmetic is TestBudget's.
	e := startEngine(t, Config{MaxActions: 2, ActionsPerSecond: 1})
	id := create(t, e)
	ctx := context.Background()
	if _, err := e.Title(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Title(ctx, id); !errors.Is(err, ErrBudget) || !strings.Contains(err.Error(), "a second") {
		t.Fatalf("second action within a second: %v", err)
	}
	time.Sleep(1100 * time.Millisecond)
	if _, err := e.Title(ctx, id); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	if _, err := e.Title(ctx, id); !errors.Is(err, ErrBudget) || !strings.Contains(err.Error(), "2 actions") {
		t.Fatalf("third action: %v", err)
	}
	if info, _ := e.Get(id); info.Actions != 2 {
		t.Fatalf("actions = %d", info.Actions)
	}
}

func TestActionTimeout(t *testing.T) {
	e := startEngine(t, Config{ActionTimeout: 300 * time.Millisecond})
	id := create(t, e)
	start := time.Now()
	err := e.WaitFor(context.Background(), id, Wait{Selector: "#never"})
	if !errors.Is(err, ErrTimeout) || time.Since(start) > 2*time.Second {
		t.Fatalf("wait = %v after %s", err, time.Since(start))
	}
	// The session still works.
	if _, err := e.Title(context.Background(), id); err != nil {
		t.Fatal(err)
	}
}

func TestTabs(t *testing.T) {
	t.Parallel()
	e := sharedEngine(t) // two tabs a session
	site := testSite(t)
	id := create(t, e)
	ctx := context.Background()
	navigate(t, e, id, site.URL+"/")
	first, _ := e.Tabs(ctx, id)
	nt, err := e.OpenTab(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	navigate(t, e, id, site.URL+"/form")
	tabs, err := e.Tabs(ctx, id)
	if err != nil || len(tabs) != 2 {
		t.Fatalf("tabs = %+v, %v", tabs, err)
	}
	if _, err := e.OpenTab(ctx, id); !errors.Is(err, ErrBudget) {
		t.Fatalf("third tab: %v", err)
	}
	if err := e.SwitchTab(ctx, id, first[0].ID); err != nil {
		t.Fatal(err)
	}
	if title, _ := e.Title(ctx, id); title != "Hello page" {
		t.Fatalf("title after switch = %q", title)
	}
	if err := e.CloseTab(ctx, id, nt.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.CloseTab(ctx, id, first[0].ID); !errors.Is(err, ErrInvalid) {
		t.Fatalf("closing the last tab: %v", err)
	}
}

func TestPopupsAreAttached(t *testing.T) {
	t.Parallel()
	e := sharedEngine(t) // two tabs a session; refuses /blocked
	site := testSite(t)
	id := create(t, e)
	ctx := context.Background()
	navigate(t, e, id, site.URL+"/popup")
	if err := e.Click(ctx, id, "#open"); err != nil {
		t.Fatal(err)
	}
	var popup Tab
	eventuallyEvery(t, 5*time.Second, 100*time.Millisecond, "the popup is a tab", func() bool {
		tabs, _ := e.Tabs(ctx, id)
		for _, tab := range tabs {
			if !tab.Active && tab.URL == site.URL+"/" {
				popup = tab
			}
		}
		return len(tabs) == 2 && popup.ID != ""
	})
	if err := e.SwitchTab(ctx, id, popup.ID); err != nil {
		t.Fatal(err)
	}
	if title, _ := e.Title(ctx, id); title != "Hello page" {
		t.Fatalf("popup title = %q", title)
	}
	// Attached, the popup's requests are checked (its first load may not be: see README).
	navigate(t, e, id, site.URL+"/with-blocked")
	eventually(t, 5*time.Second, "the popup's refused request logged", func() bool {
		logs, _ := e.Logs(id)
		for _, n := range logs.Network {
			if n.Refused && strings.HasSuffix(n.URL, "/blocked/pixel.png") {
				return true
			}
		}
		return false
	})
	tabs, _ := e.Tabs(ctx, id)
	var opener string
	for _, tab := range tabs {
		if tab.ID != popup.ID {
			opener = tab.ID
		}
	}
	// A second popup is past the session's two tabs: closed.
	if err := e.SwitchTab(ctx, id, opener); err != nil {
		t.Fatal(err)
	}
	if err := e.Click(ctx, id, "#open"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the third tab closed", func() bool {
		logs, _ := e.Logs(id)
		for _, c := range logs.Console {
			if strings.Contains(c.Text, "popup was closed") {
				return true
			}
		}
		return false
	})
	eventuallyEvery(t, 5*time.Second, 100*time.Millisecond, "two tabs again", func() bool {
		tabs, _ := e.Tabs(ctx, id)
		return len(tabs) == 2
	})
}

func TestBrowserCrashEndsSessionsAndRestarts(t *testing.T) {
	t.Parallel()
	e := startEngine(t, Config{})
	site := testSite(t)
	id := create(t, e)
	navigate(t, e, id, site.URL+"/")
	old := e.Health().BrowserPID
	syscall.Kill(old, syscall.SIGKILL)

	eventually(t, 5*time.Second, "session ended by the crash", func() bool {
		_, err := e.Get(id)
		return errors.Is(err, ErrBrowserCrashed)
	})
	_, err := e.Title(context.Background(), id)
	if !errors.Is(err, ErrBrowserCrashed) || !strings.Contains(err.Error(), "signal: killed") {
		t.Fatalf("action after the crash: %v", err)
	}
	eventually(t, 15*time.Second, "browser restarted", func() bool {
		h := e.Health()
		return h.Status == StatusOK && h.BrowserPID != old
	})
	h := e.Health()
	if h.Restarts != 1 || !strings.Contains(h.LastCrash, "signal: killed") {
		t.Fatalf("health = %+v", h)
	}
	id2 := create(t, e)
	if res := navigate(t, e, id2, site.URL+"/"); res.Title != "Hello page" {
		t.Fatalf("after restart: %+v", res)
	}
}

func TestMissingChromiumIsDegraded(t *testing.T) {
	e := New(Config{ChromiumPath: "/nonexistent/chromium", DownloadDir: t.TempDir()})
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	h := e.Health()
	if h.Status != StatusDegraded || !strings.Contains(h.Reason, "apt-get install chromium") {
		t.Fatalf("health = %+v", h)
	}
	if _, err := e.Create(context.Background()); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "apt-get install chromium") {
		t.Fatalf("create = %v", err)
	}
}

func TestFailingChromiumIsDegradedAndRetried(t *testing.T) {
	e := New(Config{ChromiumPath: "/bin/false", DownloadDir: t.TempDir()})
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if h := e.Health(); h.Status != StatusDegraded || !strings.Contains(h.Reason, "chromium failed to start") {
		t.Fatalf("health = %+v", h)
	}
	eventually(t, 5*time.Second, "a failed restart shows in health", func() bool {
		return strings.Contains(e.Health().Reason, "attempt 1; next in 1s")
	})
}

func TestChromiumInstalledLaterIsPickedUp(t *testing.T) {
	requireChromium(t)
	real, _ := findChromium(os.Getenv("PALYRA_CHROMIUM"))
	link := t.TempDir() + "/chromium"
	e := New(Config{ChromiumPath: link, DownloadDir: t.TempDir()})
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if h := e.Health(); h.Status != StatusDegraded {
		t.Fatalf("health = %+v", h)
	}
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the new chromium started", func() bool { return e.Health().Status == StatusOK })
	create(t, e)
}
