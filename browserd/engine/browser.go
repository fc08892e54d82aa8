package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// chromiumFix is the remedy Health names when no Chromium is found.
const chromiumFix = "install it: apt-get install chromium"

// findChromium returns the Chromium to run: the configured path, else chromium on PATH,
// else Debian's /usr/bin/chromium.
func findChromium(configured string) (string, error) {
	if configured != "" {
		p, err := exec.LookPath(configured)
		if err != nil {
			return "", fmt.Errorf("chromium not found at %s; %s", configured, chromiumFix)
		}
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("chromium not found on PATH; %s", chromiumFix)
}

// browserFlags are the switches for a headless browser on a closed network: nothing phones
// home (first-run, component updates, sync, background networking), and site isolation is
// off so that every frame of a page is in the page's target, whose Fetch domain checks its
// requests. The WebUI omnibox popups are off because Chromium 156 preloads two of them in
// every window, that is every session: a second renderer each, 60 MiB of PSS a session
// instead of 26 (BenchmarkMemoryPerSession).
func browserFlags(cfg Config, userDataDir string) []chromedp.ExecAllocatorOption {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(cfg.ChromiumPath),
		chromedp.UserDataDir(userDataDir),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
		// WebRTC's UDP would pass by the session's proxy and the Fetch domain both.
		chromedp.Flag("force-webrtc-ip-handling-policy", "disable_non_proxied_udp"),
		chromedp.Flag("disable-site-isolation-trials", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,IsolateOrigins,site-per-process,WebUIOmniboxPopup,WebUIOmniboxAimPopup,WebUIOmniboxFullPopup,PreloadTopChromeWebUI"),
		chromedp.Flag("disable-popup-blocking", false),
		chromedp.DisableGPU,
		chromedp.WindowSize(cfg.ViewportWidth, cfg.ViewportHeight),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			// Its own group, so a stop reaches its helpers; Pdeathsig, so the kernel kills
			// it when browserd dies, SIGKILL included (chromedp starts it from a goroutine
			// locked to its thread, which Pdeathsig needs).
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		}),
	)
	// chromedp adds --no-sandbox itself when it runs as root, and only then.
	return opts
}

// browserProc is one running browser.
type browserProc struct {
	ctx         context.Context // the browser's root chromedp context; done when it dies
	cancel      context.CancelFunc
	cancelAlloc context.CancelFunc
	pid         int
	version     string
	userDataDir string
	stopping    chan struct{} // closed by stop, so the watcher knows the death was asked for
}

// stop kills the browser and its process group and removes its profile.
func (b *browserProc) stop() {
	select {
	case <-b.stopping:
	default:
		close(b.stopping)
	}
	b.cancel()
	b.cancelAlloc()
	if b.pid > 0 {
		syscall.Kill(-b.pid, syscall.SIGKILL)
	}
	os.RemoveAll(b.userDataDir)
}

// startBrowser launches a browser and waits until it answers, within cfg.StartTimeout.
func startBrowser(ctx, life context.Context, cfg Config) (*browserProc, error) {
	dir, err := os.MkdirTemp("", profilePrefix)
	if err != nil {
		return nil, fmt.Errorf("chromium profile dir: %w", err)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(life, browserFlags(cfg, dir)...)
	// chromedp logs through the log package unless told otherwise.
	log := cfg.Logger.With("source", "chromedp")
	bctx, cancel := chromedp.NewContext(actx,
		chromedp.WithLogf(func(f string, a ...any) { log.Debug(fmt.Sprintf(f, a...)) }),
		chromedp.WithErrorf(func(f string, a ...any) { log.Warn(fmt.Sprintf(f, a...)) }),
	)
	b := &browserProc{ctx: bctx, cancel: cancel, cancelAlloc: cancelAlloc, userDataDir: dir, stopping: make(chan struct{})}

	// The first Do starts the browser and binds it to bctx, so it must not carry the
	// startup deadline; the deadline cancels it from outside instead.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(bctx) }()
	timer := time.NewTimer(cfg.StartTimeout)
	defer timer.Stop()
	select {
	case err = <-started:
	case <-timer.C:
		err = fmt.Errorf("no answer within %s", cfg.StartTimeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		b.stop()
		msg := strings.TrimSpace(strings.TrimPrefix(err.Error(), "chrome failed to start:"))
		if msg == "" {
			msg = "it exited at once with no output"
		}
		return nil, fmt.Errorf("chromium failed to start: %s", clip(strings.Join(strings.Fields(msg), " "), 400))
	}
	if p := chromedp.FromContext(bctx).Browser.Process(); p != nil {
		b.pid = p.Pid
	}
	if v, err := chromedp.CallBrowser(bctx, browser.GetVersion, struct{}{}); err == nil {
		b.version = v.Product
	}
	return b, nil
}

// firstLine keeps an error from Chromium's output to its first line.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// launch starts the browser and installs it; the watcher restarts it if it dies.
func (e *Engine) launch(ctx context.Context) error {
	cfg := e.cfg
	path, err := findChromium(cfg.ChromiumPath)
	if err != nil {
		return err
	}
	cfg.ChromiumPath = path
	b, err := startBrowser(ctx, e.life, cfg)
	if err != nil {
		return err
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		b.stop()
		return ErrEngineClosed
	}
	e.browser = b
	e.mu.Unlock()
	e.setHealth(Health{Status: StatusOK})
	e.log.Info("browser started", "pid", b.pid, "version", b.version)
	e.wg.Add(3)
	go func() {
		defer e.wg.Done()
		e.watchDownloads(b)
	}()
	go func() {
		defer e.wg.Done()
		e.watchPopups(b)
	}()
	go func() {
		defer e.wg.Done()
		e.watch(b)
	}()
	return nil
}

// watch waits for b to die; unless it was stopped, its sessions end with ErrBrowserCrashed
// and a new browser is launched.
func (e *Engine) watch(b *browserProc) {
	<-b.ctx.Done()
	select {
	case <-b.stopping:
		return
	case <-e.life.Done():
		return
	default:
	}
	why := crashReason(b)
	e.log.Error("browser died", "pid", b.pid, "reason", why)
	e.mu.Lock()
	if e.browser == b {
		e.browser = nil
	}
	e.health.Restarts++
	e.health.LastCrash = why
	e.health.LastCrashAt = time.Now()
	var victims []*session
	for _, s := range e.sessions {
		if s.browser == b {
			victims = append(victims, s)
		}
	}
	e.mu.Unlock()
	b.stop()
	e.setHealth(Health{Status: StatusDegraded, Reason: why + "; restarting it"})
	crash := fmt.Errorf("%w (%s); the session ended", ErrBrowserCrashed, why)
	for _, s := range victims {
		e.endSession(s, crash)
	}
	e.relaunchLoop()
}

// crashReason describes how b died, from the exit error chromedp keeps.
func crashReason(b *browserProc) string {
	_, err := chromedp.CallBrowser(b.ctx, browser.GetVersion, struct{}{})
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return fmt.Sprintf("chromium (pid %d) exited: %s", b.pid, exit.ProcessState)
	}
	return fmt.Sprintf("chromium (pid %d) lost its connection", b.pid)
}

// relaunchLoop starts the browser again, backing off from 500ms to 30s, until it runs or
// the engine closes.
func (e *Engine) relaunchLoop() {
	delay := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		select {
		case <-e.life.Done():
			return
		case <-time.After(delay):
		}
		err := e.launch(e.life)
		if err == nil || errors.Is(err, ErrEngineClosed) {
			return
		}
		delay = min(2*delay, 30*time.Second)
		e.log.Warn("browser start failed", "attempt", attempt, "err", err)
		e.setHealth(Health{Status: StatusDegraded, Reason: fmt.Sprintf("%v (attempt %d; next in %s)", err, attempt, delay)})
	}
}
