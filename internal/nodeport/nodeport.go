// Package nodeport remembers the node API port palyrad chose for an address with port 0.
// Paired nodes dial the port they were paired with, so a restart must bind the same one.
// The port lives in a small file beside daemon.db, which preflight reads as well.
package nodeport

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// FileName is the file in the state directory that holds the port.
const FileName = "node-port"

// maxFileSize bounds what Load reads: a port and a newline, with room to spare.
const maxFileSize = 16

// Path is the port file of the state directory home.
func Path(home string) string { return filepath.Join(home, FileName) }

// Load returns the port remembered in home, or 0 when none is.
func Load(home string) (int, error) {
	path := Path(home)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the remembered node port: %w", err)
	}
	defer f.Close()
	buf := make([]byte, maxFileSize+1)
	n, _ := f.Read(buf)
	text := strings.TrimSpace(string(buf[:n]))
	port, err := strconv.Atoi(text)
	if n > maxFileSize || err != nil || port < 1 || port > 65535 {
		return 0, fmt.Errorf("%s holds %q, not a port; write the node API port the nodes were paired with into it, or delete it to let palyrad choose a new one (paired nodes must then be paired again)",
			path, truncate(text))
	}
	return port, nil
}

// Save remembers port in home, replacing the file atomically (0600).
func Save(home string, port int) error {
	tmp, err := os.CreateTemp(home, FileName+".*.tmp")
	if err != nil {
		return fmt.Errorf("remember the node port: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename there is nothing left to remove
	_, err = tmp.WriteString(strconv.Itoa(port) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), Path(home))
	}
	if err != nil {
		return fmt.Errorf("remember the node port in %s: %w", Path(home), err)
	}
	return nil
}

func truncate(s string) string {
	if len(s) > maxFileSize {
		return s[:maxFileSize] + "…"
	}
	return s
}
