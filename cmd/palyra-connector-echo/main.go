// Command palyra-connector-echo is the Echo connector as an external plugin, for trying
// connectors end to end without an outside service. palyrad runs it; it is not for people.
package main

import (
	"os"

	"github.com/palyra/palyra/cmd/internal/connectormain"
)

func main() {
	os.Exit(connectormain.Main([]string{"echo"}))
}
