// Package testfs gives tests a small file system of their own, to see what the product does
// when the disk fills up.
package testfs

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// RequireMountEnv, set to 1, makes a test fail instead of skipping when it may not mount:
// CI sets it, so the full-disk tests always run there.
const RequireMountEnv = "PALYRA_TEST_REQUIRE_MOUNT"

// Small mounts a tmpfs of the given size on a new temporary directory, returns the
// directory and unmounts it when the test ends. Where mounting is not permitted (not root)
// the test is skipped, or fails if RequireMountEnv is set to 1.
func Small(t testing.TB, bytes int64) string {
	t.Helper()
	dir := t.TempDir()
	err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size="+strconv.FormatInt(bytes, 10)+",mode=0700")
	if errors.Is(err, syscall.EPERM) && os.Getenv(RequireMountEnv) != "1" {
		t.Skipf("mount tmpfs on %s: %v (set %s=1 to fail instead)", dir, err, RequireMountEnv)
	}
	if err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// Fill writes a file in dir until the file system refuses more, and returns its path:
// removing it (Free) makes room again.
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
