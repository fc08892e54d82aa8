package nodemain

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/palyra/palyra/internal/textsafe"
	"github.com/palyra/palyra/node/host"
	"github.com/palyra/palyra/node/identity"
)

func unpair(args []string) int {
	fs := flag.NewFlagSet("palyra-node unpair", flag.ContinueOnError)
	home := homeFlag(fs)
	localOnly := fs.Bool("local-only", false, "only delete the identity here, without telling the gateway\n(then revoke the device in palyra-tui)")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	ctx, stop := signalContext()
	defer stop()

	dir := identity.At(*home)
	id, err := dir.Load()
	switch {
	case errors.Is(err, identity.ErrNotPaired):
		// A key made by an unfinished pairing is removed all the same.
		if err := dir.Remove(); err != nil {
			return failure(ctx, os.Stderr, fs.Name(), err)
		}
		fmt.Println("not paired; nothing to revoke")
		return exitOK
	case err != nil && !*localOnly:
		return failure(ctx, os.Stderr, fs.Name(), fmt.Errorf("%w\n(the gateway cannot be told with a damaged identity: pass --local-only, then revoke the device in palyra-tui)", err))
	case err == nil && !*localOnly:
		err := host.Unpair(ctx, id)
		switch {
		case errors.Is(err, host.ErrRefused):
			fmt.Printf("the gateway already refuses this node (%v)\n", err)
		case err != nil:
			return failure(ctx, os.Stderr, fs.Name(), fmt.Errorf("%w\nnothing was removed; try again, or pass --local-only to forget this node here anyway (then revoke it in palyra-tui)", err))
		default:
			fmt.Printf("the gateway revoked device %s\n", textsafe.Clean(id.DeviceID))
		}
	}
	if err := dir.Remove(); err != nil {
		return failure(ctx, os.Stderr, fs.Name(), err)
	}
	fmt.Printf("identity removed from %s\n", *home)
	return exitOK
}
