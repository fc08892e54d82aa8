package plugindir_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/palyra/palyra/connectors/plugindir"
)

func write(t *testing.T, path, body string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}

func TestScanFindsPluginsAndSaysWhyOneIsNotRun(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "palyra-connector-good"), "#!/bin/sh\n", 0o755)
	write(t, filepath.Join(dir, "palyra-connector-noexec"), "x", 0o644)
	write(t, filepath.Join(dir, "palyra-connector-shared"), "x", 0o777)
	write(t, filepath.Join(dir, "palyra-connector-Bad Name"), "x", 0o755)
	write(t, filepath.Join(dir, "something-else"), "x", 0o755)
	if err := os.Symlink("/bin/sh", filepath.Join(dir, "palyra-connector-link")); err != nil {
		t.Fatal(err)
	}
	files, err := plugindir.Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("#!/bin/sh\n"))
	want := map[string]string{
		"good":   "",
		"link":   "not a regular file",
		"noexec": "not executable",
		"shared": "writable by other users",
	}
	if len(files) != len(want) {
		t.Fatalf("found %+v, want the kinds %v", files, want)
	}
	for _, f := range files {
		problem, ok := want[f.Kind]
		switch {
		case !ok:
			t.Errorf("found %s", f.Kind)
		case problem == "" && (f.Problem != "" || f.SHA256 != hex.EncodeToString(sum[:])):
			t.Errorf("%s: %+v, want it hashed", f.Kind, f)
		case problem != "" && (!strings.Contains(f.Problem, problem) || f.SHA256 != ""):
			t.Errorf("%s: problem %q, want %q and no hash", f.Kind, f.Problem, problem)
		}
	}
}

func TestADirectoryOthersCanWriteIsNotTrusted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "plugins")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	write(t, filepath.Join(dir, "palyra-connector-good"), "#!/bin/sh\n", 0o755)
	f, err := plugindir.Find(dir, "good")
	if err != nil || !strings.Contains(f.Problem, "directory") || f.SHA256 != "" {
		t.Fatalf("Find in a shared directory: %+v, %v", f, err)
	}
}

func TestFindAndMissingDirectory(t *testing.T) {
	if files, err := plugindir.Scan(filepath.Join(t.TempDir(), "none")); err != nil || files != nil {
		t.Fatalf("a missing directory: %v, %v", files, err)
	}
	dir := t.TempDir()
	if _, err := plugindir.Find(dir, "absent"); !errors.Is(err, plugindir.ErrNoPlugin) {
		t.Fatalf("Find absent: %v", err)
	}
	if _, err := plugindir.Find(dir, "../etc"); err == nil || !strings.Contains(err.Error(), "want 1 to 32") {
		t.Fatalf("Find with a path in the kind: %v", err)
	}
}

// Check, run before every launch, refuses a trusted file that has since become unsafe.
func TestCheckBeforeLaunch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "palyra-connector-ext")
	write(t, path, "#!/bin/sh\n", 0o755)
	if err := plugindir.Check(dir, "ext"); err != nil {
		t.Fatalf("a safe file: %v", err)
	}
	if err := os.Chmod(path, 0o775); err != nil {
		t.Fatal(err)
	}
	if err := plugindir.Check(dir, "ext"); err == nil || !strings.Contains(err.Error(), "writable by other users") {
		t.Fatalf("a file made group-writable: %v", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := plugindir.Check(dir, "ext"); err == nil {
		t.Fatal("a removed file passed")
	}
}
