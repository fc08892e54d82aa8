// Package testfs gives tests a small file system of their own, to fill up.
package testfs

import (
	"errors"
	"os"
	"strconv"
	"syscall"
	"testing"
)

// RequireMountEnv, set to 1, makes a test fail instead of skipping when it may not mount.
const RequireMountEnv = "PALYRA_TEST_REQUIRE_MOUNT"

// Small mounts a tmpfs of the given size on a new temporary directory, returns the
// directory and unmounts it when the test ends. Where mounting is not permitted the test is
// skipped, or fails if RequireMountEnv is set to 1.
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
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}
