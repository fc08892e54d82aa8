package engine

import (
	"bytes"
	"os"
	"path/filepath"
	"time"
)

// profilePrefix names the temporary profile directory of each browser this package starts.
const profilePrefix = "palyra-browserd-chromium-"

// sweepProfiles removes the profile directories that browsers of earlier engines left
// behind: when browserd is SIGKILLed, its browser dies (Pdeathsig) but nobody removes the
// directory. A directory is left alone while any process names it as its
// --user-data-dir, or when it is younger than a minute, since another engine may have
// just made it and not started its browser yet.
func sweepProfiles() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), profilePrefix+"*"))
	if len(dirs) == 0 {
		return
	}
	inUse := profilesInUse()
	for _, dir := range dirs {
		fi, err := os.Stat(dir)
		if err != nil || !fi.IsDir() || time.Since(fi.ModTime()) < time.Minute || inUse[dir] {
			continue
		}
		os.RemoveAll(dir)
	}
}

// profilesInUse reads /proc for the --user-data-dir of every process.
func profilesInUse() map[string]bool {
	used := map[string]bool{}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for arg := range bytes.SplitSeq(cmdline, []byte{0}) {
			if dir, ok := bytes.CutPrefix(arg, []byte("--user-data-dir=")); ok {
				used[string(dir)] = true
			}
		}
	}
	return used
}
