package main

import (
	"io"

	"golang.org/x/sys/unix"
)

// fallbackWidth is for a terminal that reports no size (a serial console): the narrowest
// terminal the product supports.
const fallbackWidth = 80

// tableWidth is the width human tables fit in: the terminal's when w is one, else 0, so piped
// or redirected output keeps every cell whole for scripts.
func tableWidth(w io.Writer) int {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return 0
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0 // not a terminal
	}
	if ws.Col == 0 {
		return fallbackWidth
	}
	return int(ws.Col)
}
