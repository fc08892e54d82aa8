// Package plugindir finds external connector plugins: executables named
// palyra-connector-<kind> in one directory that palyrad launches only once the operator
// has pinned their SHA-256. It reads files and nothing else.
package plugindir

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
)

// Prefix starts every external plugin's file name; the rest is its kind.
const Prefix = "palyra-connector-"

// Bounds of a scan.
const (
	MaxFiles = 256     // plugin executables listed
	MaxSize  = 1 << 30 // bytes hashed of one executable
)

var kindPattern = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// File is one plugin executable found in the directory.
type File struct {
	Kind   string
	Path   string
	SHA256 string // hex; empty when Problem says why it was not read
	// Problem, when set, is why palyrad will not launch this file whatever its pin.
	Problem string
}

// ErrNoPlugin is returned by Find when the directory has no executable for a kind.
var ErrNoPlugin = errors.New("no such plugin")

// Scan lists the plugin executables in dir, by kind. A missing directory has none.
func Scan(dir string) ([]File, error) {
	d, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	dirProblem := unsafeDir(dir)
	var out []File
	for _, name := range names {
		kind, ok := strings.CutPrefix(name, Prefix)
		if !ok || !kindPattern.MatchString(kind) {
			continue
		}
		if len(out) == MaxFiles {
			break
		}
		out = append(out, inspect(filepath.Join(dir, name), kind, dirProblem))
	}
	slices.SortFunc(out, func(a, b File) int { return strings.Compare(a.Kind, b.Kind) })
	return out, nil
}

// Check says why palyrad must not launch the executable of kind in dir now, or nil. It is
// the same test Scan and Find make, run again before every launch.
func Check(dir, kind string) error {
	if f := inspect(filepath.Join(dir, Prefix+kind), kind, unsafeDir(dir)); f.Problem != "" {
		return fmt.Errorf("%s: %s", f.Path, f.Problem)
	}
	return nil
}

// Find returns the plugin of kind in dir, hashed.
func Find(dir, kind string) (File, error) {
	if !kindPattern.MatchString(kind) {
		return File{}, fmt.Errorf("kind %q: want 1 to 32 of a-z 0-9 _ -", kind)
	}
	path := filepath.Join(dir, Prefix+kind)
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return File{}, fmt.Errorf("%w: %s (put the executable there first)", ErrNoPlugin, path)
	}
	return inspect(path, kind, unsafeDir(dir)), nil
}

// inspect hashes an executable, or says why palyrad must not run it: a file others can
// change could be swapped for another program between its check and its launch.
func inspect(path, kind, dirProblem string) File {
	f := File{Kind: kind, Path: path}
	info, err := os.Lstat(path)
	switch {
	case err != nil:
		f.Problem = err.Error()
	case !info.Mode().IsRegular():
		f.Problem = "not a regular file (a symlink or a directory is not launched)"
	case info.Mode().Perm()&0o111 == 0:
		f.Problem = "not executable (chmod 755 it)"
	case info.Mode().Perm()&0o022 != 0:
		f.Problem = fmt.Sprintf("writable by other users (mode %04o; chmod go-w it)", info.Mode().Perm())
	case !ownedBySafeUser(info):
		f.Problem = "owned by another user (only root's or palyrad's own files are run)"
	case info.Size() > MaxSize:
		f.Problem = fmt.Sprintf("over %d MiB", MaxSize>>20)
	case dirProblem != "":
		f.Problem = dirProblem
	}
	if f.Problem != "" {
		return f
	}
	sum, err := Hash(path)
	if err != nil {
		f.Problem = err.Error()
		return f
	}
	f.SHA256 = sum
	return f
}

// unsafeDir says why dir, or a directory above it, would let another user swap a plugin:
// writable by others (without the sticky bit /tmp has) or owned by another user.
func unsafeDir(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err.Error()
	}
	for d := abs; ; d = filepath.Dir(d) {
		info, err := os.Stat(d)
		switch {
		case err != nil:
			return err.Error()
		case d == abs && info.Mode().Perm()&0o022 != 0,
			d != abs && info.Mode().Perm()&0o002 != 0 && info.Mode()&os.ModeSticky == 0:
			return fmt.Sprintf("directory %s is writable by other users (mode %04o; chmod go-w it)", d, info.Mode().Perm())
		case !ownedBySafeUser(info):
			return fmt.Sprintf("directory %s is owned by another user", d)
		}
		if d == filepath.Dir(d) {
			return ""
		}
	}
}

// ownedBySafeUser: root's, or this process's user's.
func ownedBySafeUser(info fs.FileInfo) bool {
	st, ok := info.Sys().(*syscall.Stat_t)
	return !ok || st.Uid == 0 || int(st.Uid) == os.Getuid()
}

// Hash returns the hex SHA-256 of the file at path, as go-plugin checks it at launch.
func Hash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, MaxSize+1)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
