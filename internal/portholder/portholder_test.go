package portholder

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestListeningInodesParsesProcTable(t *testing.T) {
	table := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1D13 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1D13 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1
`
	path := filepath.Join(t.TempDir(), "tcp")
	if err := os.WriteFile(path, []byte(table), 0o600); err != nil {
		t.Fatal(err)
	}
	got := listeningInodes(path, 7443)
	if len(got) != 1 || got[0] != "4242" {
		t.Fatalf("got %v, want [4242] (only the LISTEN row)", got)
	}
}

func TestFindNamesThisProcess(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if pid, name := Find(l.Addr().(*net.TCPAddr).Port); pid != os.Getpid() || name == "" {
		t.Fatalf("Find = %d %q, want this process (%d)", pid, name, os.Getpid())
	}
}
