// Package diskspace says how much room a file system has left, for the preflight checks and
// the supervisor's status.
package diskspace

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Free returns the bytes an unprivileged writer may still use on the file system of path.
func Free(path string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// Format writes n bytes the way an operator reads free space: 3.2 GiB, 512 MiB, 12 KiB.
func Format(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d KiB", n>>10)
	}
}
