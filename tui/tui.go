// Package tui is palyra-tui's terminal control center: the root model owns the size, the
// focus, the global keys, the overlays (help, command palette, first-run preflight), the
// status line and the connection to palyrad's admin API, and routes everything else to the
// panes in tui/cockpit, tui/inventory, tui/approvals and tui/logview.
package tui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/supervisor/api"
)

// Backend is what the TUI needs from the supervisor. The gRPC client in supervisor/api
// satisfies it.
type Backend interface {
	WatchSnapshots(ctx context.Context) (api.SnapshotStream, error)
	Logs(ctx context.Context, q api.LogQuery) (api.LogStream, error)
	StartService(ctx context.Context, name string) ([]supervisor.ServiceStatus, error)
	StopService(ctx context.Context, name string) ([]supervisor.ServiceStatus, error)
	RestartService(ctx context.Context, name string) ([]supervisor.ServiceStatus, error)
	Preflight(ctx context.Context) ([]supervisor.Check, error)
}

var _ Backend = (*api.Client)(nil)

// memoryLimit is the UI's soft heap limit.
const memoryLimit = 40 << 20

// Options configure the TUI.
type Options struct {
	Home        string           // the state directory holding admin.token; the supervisor's when empty
	TokenFile   string           // the admin API token's file, instead of <Home>/admin.token ($PALYRA_TOKEN wins)
	ScopedToken bool             // that token is a scoped one: services are operated only with services.operate
	Gateway     string           // palyrad's admin address; the supervised daemon's when empty
	GatewayCA   string           // the gateway CA certificate for an admin API served with TLS; the supervised daemon's own when empty
	FirstRun    bool             // show the preflight checks first
	LogFile     string           // where the TUI's own log goes (never the terminal); none when empty
	SaveDir     string           // where the Logs pane saves lines; the working directory when empty
	Now         func() time.Time // the clock; time.Now when nil
	Location    *time.Location   // for displayed times; time.Local when nil
	MaxLogLines int              // lines the Logs pane keeps; 100,000 when 0
}

// Run shows the TUI until the operator quits or ctx ends. Quitting leaves the services
// running: they belong to the supervisor, not to the TUI.
func Run(ctx context.Context, b Backend, opts Options) error {
	logger, closeLog, err := openLog(opts.LogFile)
	if err != nil {
		return err
	}
	defer closeLog()

	// A full logs pane holds about 16 MiB; under a log flood the garbage of incoming batches
	// would let the heap grow to several times that before the collector runs. A soft limit
	// keeps the UI near 55 MB there, at some CPU the flood's sender does not wait for. An
	// operator's GOMEMLIMIT wins.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	programOpts := []tea.ProgramOption{tea.WithContext(ctx)}
	if os.Getenv("NO_COLOR") != "" {
		// no-color.org asks for any non-empty value; the detector only accepts booleans.
		p := min(colorprofile.Detect(os.Stdout, os.Environ()), colorprofile.ASCII)
		programOpts = append(programOpts, tea.WithColorProfile(p))
	}
	final, err := tea.NewProgram(newModel(b, opts, logger, tea.Tick), programOpts...).Run()
	if m, ok := final.(model); ok {
		m.close()
	}
	if err != nil && ctx.Err() != nil && errors.Is(err, tea.ErrProgramKilled) {
		return nil
	}
	if err != nil {
		logger.Error("tui ended", "err", err)
		return fmt.Errorf("tui: %w", err)
	}
	return nil
}

func openLog(path string) (*slog.Logger, func(), error) {
	if path == "" {
		return slog.New(slog.DiscardHandler), func() {}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("tui log: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(f, nil)).With("subsystem", "tui")
	return logger, func() { f.Close() }, nil
}
