// Package connectormain serves a built-in connector provider as a go-plugin process. palyrad
// runs its own executable as `<exe> connector <kind>` for each built-in kind it needs, and
// the thin cmd/palyra-connector-* mains run the same code as external plugins.
package connectormain

import (
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"

	"github.com/palyra/palyra/connectors"
	"github.com/palyra/palyra/connectors/plugin"
	"github.com/palyra/palyra/connectors/providers/discord"
	"github.com/palyra/palyra/connectors/providers/echo"
	"github.com/palyra/palyra/internal/buildinfo"
	"github.com/palyra/palyra/internal/procname"
)

// Kinds are the providers built into this binary.
var Kinds = map[string]func() connectors.Provider{
	echo.Kind:    func() connectors.Provider { return echo.New(buildinfo.Version) },
	discord.Kind: func() connectors.Provider { return discord.New(discord.Options{Version: buildinfo.Version}) },
}

// Main serves the provider named by args[0] until palyrad goes away. Stdout is go-plugin's
// handshake; logs go to stderr, which palyrad puts in its own log.
func Main(args []string) int {
	if len(args) != 1 || Kinds[args[0]] == nil {
		fmt.Fprintf(os.Stderr, "usage: connector KIND (palyrad runs this; built in: %v)\n", kindNames())
		return 2
	}
	procname.Set("palyra-connector-" + args[0])
	slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stderr, nil)))
	plugin.Serve(Kinds[args[0]]())
	return 0
}

func kindNames() []string { return slices.Sorted(maps.Keys(Kinds)) }
