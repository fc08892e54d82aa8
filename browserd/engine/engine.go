// Package engine drives one headless Chromium over the DevTools protocol (CDP) for
// palyra-browserd: one browser process per engine, one fresh browser context per session
// (its own cookies, storage and cache), every request the page makes checked by a Guard.
// It knows nothing of gRPC; browserd's server translates.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/chromedp/cdproto/cdp"
)

// Config is what an Engine needs. Zero values take the defaults documented on each field.
type Config struct {
	ChromiumPath string        // "" finds chromium on PATH, then /usr/bin/chromium
	StartTimeout time.Duration // for the browser to come up; default 20s

	MaxSessions     int           // open sessions at once; default 16
	IdleTTL         time.Duration // a session idle this long ends; default 10m
	Lifetime        time.Duration // a session this old ends; default 30m
	ReapInterval    time.Duration // how often idle and old sessions are looked for; default 15s
	ActionTimeout   time.Duration // per action unless the caller's deadline is sooner; default 5s
	NavigateTimeout time.Duration // per navigation; default 15s

	MaxActions       int // actions per session over its life; default 256
	ActionsPerSecond int // actions per session per second; default 20
	MaxTabs          int // tabs per session; default 8

	MaxTextBytes       int // visible text returned by Text; default 16 KiB
	MaxSnapshotBytes   int // text of a Snapshot; default 64 KiB
	MaxScreenshotBytes int // a larger PNG is an error, not a downscale; default 2 MiB
	MaxTypeBytes       int // text one Type may enter; default 4 KiB
	LogEntries         int // console and network entries kept per session, each; default 256

	ViewportWidth, ViewportHeight int // CSS pixels; default 1280×800

	DownloadDir      string // each session downloads into its own directory below; default a temp dir
	MaxDownloadBytes int64  // bytes a session may download in all; default 50 MiB

	// Guard checks every request and response address; nil allows everything (tests).
	Guard  Guard
	Logger *slog.Logger // nil discards
}

func (c *Config) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur(&c.StartTimeout, 20*time.Second)
	def(&c.MaxSessions, 16)
	defDur(&c.IdleTTL, 10*time.Minute)
	defDur(&c.Lifetime, 30*time.Minute)
	defDur(&c.ReapInterval, 15*time.Second)
	defDur(&c.ActionTimeout, 5*time.Second)
	defDur(&c.NavigateTimeout, 15*time.Second)
	def(&c.MaxActions, 256)
	def(&c.ActionsPerSecond, 20)
	def(&c.MaxTabs, 8)
	def(&c.MaxTextBytes, 16<<10)
	def(&c.MaxSnapshotBytes, 64<<10)
	def(&c.MaxScreenshotBytes, 2<<20)
	def(&c.MaxTypeBytes, 4<<10)
	def(&c.LogEntries, 256)
	def(&c.ViewportWidth, 1280)
	def(&c.ViewportHeight, 800)
	if c.MaxDownloadBytes <= 0 {
		c.MaxDownloadBytes = 50 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Engine owns the browser process and the sessions in it. Its methods are safe for
// concurrent use; actions on one session run one at a time.
type Engine struct {
	cfg Config
	log *slog.Logger

	// life ends when Close is called; the browser and every session derive from it, as
	// chromedp ties a browser's lifetime to the context it was started with.
	life     context.Context
	stopLife context.CancelFunc
	wg       sync.WaitGroup

	mu       sync.Mutex
	browser  *browserProc // nil while down
	health   Health
	sessions map[string]*session
	ended    *tombstones // why recently ended sessions ended
	started  bool
	closed   bool
	dlRoot   string // the download root this engine made, removed on Close

	framesMu sync.Mutex
	frames   map[cdp.FrameID]*session // subframes seen, so their downloads find their session
}

// New builds an Engine; nothing runs until Start.
func New(cfg Config) *Engine {
	cfg.setDefaults()
	life, stop := context.WithCancel(context.Background())
	return &Engine{
		cfg:      cfg,
		log:      cfg.Logger,
		life:     life,
		stopLife: stop,
		sessions: map[string]*session{},
		frames:   map[cdp.FrameID]*session{},
		ended:    newTombstones(256),
		health:   Health{Status: StatusStarting},
	}
}

// Start launches the browser and the session reaper. A missing or failing Chromium is not
// an error: Health turns degraded with the reason and the fix, and sessions are refused.
// It returns an error only when the engine cannot work at all (closed, no download dir).
func (e *Engine) Start(ctx context.Context) error {
	e.mu.Lock()
	if e.closed || e.started {
		e.mu.Unlock()
		return errors.New("engine: already started or closed")
	}
	e.started = true
	if e.cfg.DownloadDir == "" {
		dir, err := os.MkdirTemp("", "palyra-browserd-downloads-")
		if err != nil {
			e.mu.Unlock()
			return fmt.Errorf("engine: download dir: %w", err)
		}
		e.cfg.DownloadDir, e.dlRoot = dir, dir
	} else if err := os.MkdirAll(e.cfg.DownloadDir, 0o700); err != nil {
		e.mu.Unlock()
		return fmt.Errorf("engine: download dir: %w", err)
	}
	e.mu.Unlock()

	e.wg.Add(2)
	go func() {
		defer e.wg.Done()
		e.reapLoop()
	}()
	go func() {
		defer e.wg.Done()
		sweepProfiles()
	}()

	if err := e.launch(ctx); err != nil {
		e.setHealth(Health{Status: StatusDegraded, Reason: err.Error()})
		e.log.Warn("browser unavailable", "err", err)
		// Keep trying in the background, as after a crash: an operator may install
		// Chromium, or a transient failure may pass.
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.relaunchLoop()
		}()
	}
	return nil
}

// Close ends every session, stops the browser and waits for its goroutines.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	sessions := make([]*session, 0, len(e.sessions))
	for _, s := range e.sessions {
		sessions = append(sessions, s)
	}
	e.mu.Unlock()
	for _, s := range sessions {
		e.endSession(s, ErrEngineClosed)
	}
	e.stopLife()
	e.mu.Lock()
	bp := e.browser
	e.browser = nil
	e.mu.Unlock()
	if bp != nil {
		bp.stop()
	}
	e.wg.Wait()
	if e.dlRoot != "" {
		os.RemoveAll(e.dlRoot)
	}
	return nil
}

// Health says whether the engine can serve sessions and, when not, why.
func (e *Engine) Health() Health {
	e.mu.Lock()
	defer e.mu.Unlock()
	h := e.health
	h.Sessions = len(e.sessions)
	if e.browser != nil {
		h.BrowserPID = e.browser.pid
		h.BrowserVersion = e.browser.version
	}
	return h
}

func (e *Engine) setHealth(h Health) {
	e.mu.Lock()
	defer e.mu.Unlock()
	h.Restarts = e.health.Restarts
	h.LastCrash, h.LastCrashAt = e.health.LastCrash, e.health.LastCrashAt
	e.health = h
}
