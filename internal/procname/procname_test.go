package procname

import (
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestSetRenamesTheProcess runs this test binary again as a child that renames itself, and
// reads the child's name from outside, as ps does.
func TestSetRenamesTheProcess(t *testing.T) {
	if os.Getenv("PROCNAME_CHILD") == "1" {
		if err := Set("palyra-browserd"); err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("renamed\n")
		os.Stdin.Read(make([]byte, 1)) // stay alive until the parent has looked
		os.Exit(0)
	}
	child := exec.Command(os.Args[0], "-test.run=^TestSetRenamesTheProcess$")
	// The race detector otherwise sleeps a second before the child exits.
	child.Env = append(os.Environ(), "PROCNAME_CHILD=1", "GORACE=atexit_sleep_ms=0")
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Wait()
	defer stdin.Close()
	buf := make([]byte, len("renamed\n"))
	if _, err := io.ReadFull(stdout, buf); err != nil || string(buf) != "renamed\n" {
		t.Fatalf("child said %q, %v", buf, err)
	}
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(child.Process.Pid) + "/comm")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(comm)); got != "palyra-browserd" {
		t.Fatalf("comm %q, want palyra-browserd", got)
	}
}
