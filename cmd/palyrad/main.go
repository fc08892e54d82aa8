// Command palyrad is the Palyra gateway daemon. `palyra-tui daemon` runs the same code.
package main

import (
	"os"

	"github.com/palyra/palyra/cmd/internal/connectormain"
	"github.com/palyra/palyra/cmd/internal/daemonmain"
)

func main() {
	// palyrad serves its built-in connector plugins by running itself as `palyrad connector KIND`.
	if len(os.Args) > 1 && os.Args[1] == "connector" {
		os.Exit(connectormain.Main(os.Args[2:]))
	}
	os.Exit(daemonmain.Main(os.Args[1:]))
}
