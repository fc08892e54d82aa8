package logs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// repairTail cuts f back to the end of its last whole record and returns its new size. A
// tail longer than any record is no record of ours; it gets a newline of its own instead.
func repairTail(f *os.File, path string, size int64, limit int) (int64, error) {
	r, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	start := max(size-int64(limit)-1, 0)
	tail := make([]byte, size-start)
	if _, err := r.ReadAt(tail, start); err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(tail, '\n')
	switch {
	case i == len(tail)-1:
		return size, nil
	case i < 0 && start > 0:
		_, err := f.Write([]byte{'\n'})
		return size + 1, err
	}
	whole := start + int64(i+1)
	return whole, f.Truncate(whole)
}

func rotatedPath(path string, n int) string { return path + "." + strconv.Itoa(n) }

// fileName is the file of service inside the log directory. Names are kept to a safe
// alphabet so that no service name can point outside it.
func fileName(service string) string {
	b := []byte(service)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' && i > 0) {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		b = []byte("_")
	}
	return string(b) + ".log"
}

// logFiles lists the services that have log files in dir by file name ("daemon" for
// daemon.log), each with its highest rotation number (0 when only <name>.log exists). A
// missing directory has none.
func logFiles(dir string) (map[string]int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list log files: %w", err)
	}
	found := make(map[string]int)
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if name, n, ok := parseFileName(e.Name()); ok {
			found[name] = max(found[name], n)
		}
	}
	return found, nil
}

// parseFileName splits "daemon.log" into ("daemon", 0) and "daemon.log.2" into ("daemon", 2).
func parseFileName(base string) (name string, n int, ok bool) {
	if name, ok := strings.CutSuffix(base, ".log"); ok && name != "" {
		return name, 0, true
	}
	i := strings.LastIndex(base, ".log.")
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(base[i+len(".log."):])
	if err != nil || n < 1 {
		return "", 0, false
	}
	return base[:i], n, true
}
