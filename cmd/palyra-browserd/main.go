// Command palyra-browserd is the Palyra browser automation daemon. `palyra-tui browserd` runs
// the same code.
package main

import (
	"os"

	"github.com/palyra/palyra/cmd/internal/browserdmain"
)

func main() {
	os.Exit(browserdmain.Main(os.Args[1:]))
}
