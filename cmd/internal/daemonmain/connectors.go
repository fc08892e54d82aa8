package daemonmain

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/palyra/palyra/cmd/internal/connectormain"
	"github.com/palyra/palyra/connectors/host"
	"github.com/palyra/palyra/connectors/platform"
)

// connectorPlugins are the connector kinds palyrad runs: each built-in kind is served by
// this same executable, started again as `<exe> connector <kind>`.
func connectorPlugins(log *slog.Logger) (map[string]platform.Plugin, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("connectors: find this executable to serve the built-in connectors: %w", err)
	}
	plugins := map[string]platform.Plugin{}
	for kind := range connectormain.Kinds {
		plugins[kind] = host.New(host.Spec{Kind: kind, Path: exe, Args: []string{"connector", kind}}, host.Options{Logger: log.With("subsystem", "connectors")})
	}
	return plugins, nil
}
