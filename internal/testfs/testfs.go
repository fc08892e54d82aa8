// Package testfs gives tests a small file system of their own, to see what the product does
// when the disk fills up.
package testfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// RequireEnv, set to 1, turns a test that cannot mount into a failure instead of a skip:
// CI sets it, so the full-disk tests always run there.
const RequireEnv = "PALYRA_TEST_REQUIRE_MOUNT"

// Small mounts a tmpfs of size bytes and returns its path; it is unmounted when the test
// ends. Without the right to mount (not root) the test is skipped, unless RequireEnv is set.
func Small(t testing.TB, size int64) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "palyra-fs-")
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		os.Remove(dir)
		if errors.Is(err, syscall.EPERM) && os.Getenv(RequireEnv) != "1" {
			t.Skipf("cannot mount a small file system (%v); run as root, or set %s=1 to fail instead", err, RequireEnv)
		}
		t.Fatalf("mount a %d-byte tmpfs: %v", size, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
		os.Remove(dir)
	})
	return dir
}

// Fill writes a file in dir until the file system refuses more, and returns its path:
// removing it frees the space again.
func Fill(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 4096)
	for {
		if _, err := f.Write(block); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return path
			}
			t.Fatalf("fill %s: %v", dir, err)
		}
	}
}

// Free removes what Fill wrote.
func Free(t testing.TB, filler string) {
	t.Helper()
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
}
