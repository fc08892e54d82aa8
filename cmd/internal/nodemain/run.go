package nodemain

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/palyra/palyra/cmd/internal/servicemain"
	"github.com/palyra/palyra/internal/buildinfo"
	"github.com/palyra/palyra/internal/ready"
	"github.com/palyra/palyra/node/capabilities"
	"github.com/palyra/palyra/node/host"
	"github.com/palyra/palyra/node/identity"
	"github.com/palyra/palyra/node/mediation"
)

type runConfig struct {
	home          string
	mediation     string
	opener        string
	promptTimeout time.Duration
}

func run(args []string) int {
	fs := flag.NewFlagSet("palyra-node run", flag.ContinueOnError)
	var cfg runConfig
	fs.StringVar(&cfg.home, "home", defaultHome(), homeUsage)
	fs.Func("mediation", "how calls that need this node's operator are decided: prompt (ask on this terminal), allow or deny;\ndefault prompt when there is a terminal, else deny", func(s string) error {
		switch s {
		case mediation.ModePrompt, mediation.ModeAllow, mediation.ModeDeny:
			cfg.mediation = s
			return nil
		}
		return fmt.Errorf("want prompt, allow or deny")
	})
	fs.StringVar(&cfg.opener, "opener", "xdg-open", "program that opens URLs for desktop.open_url, with leading arguments; the URL is its last argument (no shell)")
	fs.DurationVar(&cfg.promptTimeout, "prompt-timeout", mediation.DefaultTimeout, "how long a prompt waits for an answer before it counts as no")
	return servicemain.Run(fs, args, func(ctx context.Context, log *slog.Logger, stdout io.Writer) error {
		return serve(ctx, cfg, log, stdout)
	})
}

func serve(ctx context.Context, cfg runConfig, log *slog.Logger, stdout io.Writer) error {
	dir := identity.At(cfg.home)
	id, err := dir.Load()
	if err != nil {
		return err
	}
	lock, err := lockHome(cfg.home)
	if err != nil {
		return err
	}
	defer lock.Release()
	mediator, mode, closeTTY, err := mediatorFor(cfg)
	if err != nil {
		return err
	}
	defer closeTTY()
	caps := capabilities.New(capabilities.Config{
		Mediator: mediator, Opener: strings.Fields(cfg.opener), ProcDir: "/proc", Started: time.Now(), Version: buildinfo.Version,
	})

	var announce sync.Once
	log.Info("palyra-node started", "version", buildinfo.Version, "pid", os.Getpid(), "home", cfg.home,
		"device_id", id.DeviceID, "gateway", id.Gateway, "mediation", mode)
	err = host.Run(ctx, dir, host.RunConfig{
		Capabilities: caps,
		Logger:       log.With("subsystem", "host"),
		// The ready line says the gateway accepted the node, once.
		OnConnected: func() {
			announce.Do(func() {
				err := ready.Print(stdout, ready.Line{Service: "node", Version: buildinfo.Version, PID: os.Getpid(),
					Addrs: map[string]string{"gateway": id.Gateway}})
				if err != nil {
					log.Error("ready line not written", "err", err)
				}
			})
		},
	})
	if err != nil {
		return err
	}
	log.Info("palyra-node stopped")
	return nil
}

// mediatorFor picks how mediated calls are decided, and returns what closes the terminal.
func mediatorFor(cfg runConfig) (capabilities.Mediator, string, func(), error) {
	mode := cfg.mediation
	switch mode {
	case mediation.ModeAllow:
		return mediation.Allow, mode, func() {}, nil
	case mediation.ModeDeny:
		return mediation.Deny, mode, func() {}, nil
	}
	tty, err := mediation.OpenTTY()
	if err != nil {
		if mode == mediation.ModePrompt {
			return nil, "", nil, fmt.Errorf("--mediation prompt needs a terminal: %w; use --mediation allow or deny", err)
		}
		return mediation.Deny, mediation.ModeDeny, func() {}, nil
	}
	return mediation.NewTerminal(tty, cfg.promptTimeout), mediation.ModePrompt, func() { tty.Close() }, nil
}
