// Package statedir names the state directory every Palyra process shares by default.
package statedir

import (
	"os"
	"path/filepath"
)

// Default is $PALYRA_HOME, else $XDG_STATE_HOME/palyra, else ~/.local/state/palyra.
func Default() string {
	if d := os.Getenv("PALYRA_HOME"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "palyra")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "palyra")
	}
	return filepath.Join(os.TempDir(), "palyra")
}
