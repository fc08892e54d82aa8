package daemonmain

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"

	"github.com/palyra/palyra/internal/grpcserve"
	"github.com/palyra/palyra/internal/nodeport"
	"github.com/palyra/palyra/internal/portholder"
)

const nodeAddrSetting = "--node-addr/PALYRA_NODE_ADDR"

// listenNode binds the node API on addr. With port 0 the port chosen at the first start is
// remembered in home and bound again at every later start, because paired nodes keep dialing
// the port they were paired with; if another process holds it then, that is an error, not a
// reason to move.
func listenNode(home, addr string) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port != "0" {
		return grpcserve.Listen(addr, "palyrad", nodeAddrSetting)
	}
	kept, err := nodeport.Load(home)
	if err != nil {
		return nil, err
	}
	if kept == 0 {
		lis, err := grpcserve.Listen(addr, "palyrad", nodeAddrSetting)
		if err != nil {
			return nil, err
		}
		if err := nodeport.Save(home, lis.Addr().(*net.TCPAddr).Port); err != nil {
			lis.Close()
			return nil, err
		}
		return lis, nil
	}
	keptAddr := net.JoinHostPort(host, strconv.Itoa(kept))
	lis, err := net.Listen("tcp", keptAddr)
	if errors.Is(err, syscall.EADDRINUSE) {
		holder := "another process"
		if pid, name := portholder.Find(kept); pid > 0 {
			holder = fmt.Sprintf("pid %d (%s)", pid, name)
		}
		return nil, fmt.Errorf("listen %s: address already in use by %s; the node API keeps port %d, which its nodes were paired with (%s remembers it): stop %s, or set %s to a fixed address and pair the nodes again",
			keptAddr, holder, kept, nodeport.Path(home), holder, nodeAddrSetting)
	}
	if err != nil {
		return nil, fmt.Errorf("listen %s (the node port remembered in %s): %w; check %s", keptAddr, nodeport.Path(home), err, nodeAddrSetting)
	}
	return lis, nil
}
