// Command palyra-node is the Palyra node host: it pairs a machine with a gateway, then keeps
// a session open and serves the capability calls the gateway sends.
package main

import (
	"os"

	"github.com/palyra/palyra/cmd/internal/nodemain"
)

func main() {
	os.Exit(nodemain.Main(os.Args[1:]))
}
