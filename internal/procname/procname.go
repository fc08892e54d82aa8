// Package procname names this process in ps, ss and /proc/PID/comm. A role re-executed
// through /proc/self/exe would otherwise show as "exe".
package procname

import "os"

// Set makes name this process's command name (the kernel keeps 15 bytes). Writing
// /proc/self/comm renames the main thread, the one ps and ss show, whichever thread
// writes. It is cosmetic: a failure only leaves the old name.
func Set(name string) error {
	return os.WriteFile("/proc/self/comm", []byte(name), 0)
}
