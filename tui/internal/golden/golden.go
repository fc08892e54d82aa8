// Package golden compares rendered views with files under testdata, in the manner of
// charmbracelet/x exp/golden: `go test -update` rewrites the files, and the diff is reviewed.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// RequireView checks that view, stripped of styling, fits w×h cells and equals
// testdata/<TestName>.golden.
func RequireView(t *testing.T, view string, w, h int) {
	t.Helper()
	plain := ansi.Strip(view)
	lines := strings.Split(plain, "\n")
	if len(lines) > h {
		t.Errorf("view has %d lines, more than the height %d", len(lines), h)
	}
	for i, l := range lines {
		if n := ansi.StringWidth(l); n > w {
			t.Errorf("line %d is %d cells wide, more than the width %d: %q", i+1, n, w, l)
		}
	}
	Require(t, plain)
}

// Require checks that got equals testdata/<TestName>.golden.
func Require(t *testing.T, got string) {
	t.Helper()
	path := filepath.Join("testdata", filepath.FromSlash(t.Name())+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("view differs from %s (run with -update after reviewing):\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}
