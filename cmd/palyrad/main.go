// Command palyrad is the Palyra gateway daemon. `palyra-tui daemon` runs the same code.
package main

import (
	"os"

	"github.com/palyra/palyra/cmd/internal/daemonmain"
)

func main() {
	os.Exit(daemonmain.Main(os.Args[1:]))
}
