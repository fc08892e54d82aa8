// Package textsplit cuts a message too long for a channel into parts that each fit, at line
// breaks or spaces where it can, and keeps Markdown code fences balanced: a part that ends
// inside a ``` block closes it, and the next part opens it again with the same info string.
package textsplit

import "strings"

const fence = "```"

// Split returns text in parts of at most limit runes each (text itself when it fits). A
// limit too small to hold a fence is taken as 16.
func Split(text string, limit int) []string {
	if limit < 16 {
		limit = 16
	}
	if runes(text) <= limit {
		return []string{text}
	}
	var parts []string
	rest := []rune(text)
	reopen := "" // the fence line the next part starts with, when a block is open
	for len(rest) > 0 {
		room := limit - runes(reopen)
		if len(rest) <= room {
			parts = append(parts, reopen+string(rest))
			break
		}
		// Leave room to close a block that is open where the cut falls.
		cut := cutAt(rest, room-len("\n"+fence))
		part := string(rest[:cut])
		open, info := openFence(reopen + part)
		if open {
			part = strings.TrimRight(part, "\n") + "\n" + fence
		}
		parts = append(parts, reopen+part)
		rest = trimLeadingBreak(rest[cut:])
		reopen = ""
		if open {
			reopen = fence + info + "\n"
		}
	}
	return parts
}

// cutAt picks where to end a part of at most room runes: after the last line break, else
// after the last space, else at room itself. It always makes progress.
func cutAt(r []rune, room int) int {
	if room < 1 {
		room = 1
	}
	if room >= len(r) {
		return len(r)
	}
	for i := room; i > room/2; i-- {
		if r[i-1] == '\n' {
			return i
		}
	}
	for i := room; i > room/2; i-- {
		if r[i-1] == ' ' {
			return i
		}
	}
	// No break to cut at: do not cut a fence in two, or its halves would not be read as one.
	line := room
	for line > 0 && r[line-1] != '\n' {
		line--
	}
	if line > 0 && strings.HasPrefix(strings.TrimSpace(string(r[line:room])), "`") {
		return line
	}
	return room
}

// openFence reports whether s ends inside a code block, and the info string (language) of
// the fence that opened it.
func openFence(s string) (bool, string) {
	open, info := false, ""
	for line := range strings.Lines(s) {
		t := strings.TrimSpace(line)
		if !strings.HasPrefix(t, fence) {
			continue
		}
		if open {
			open, info = false, ""
		} else {
			open, info = true, strings.TrimSpace(strings.TrimPrefix(t, fence))
		}
	}
	return open, info
}

func trimLeadingBreak(r []rune) []rune {
	if len(r) > 0 && r[0] == '\n' {
		return r[1:]
	}
	return r
}

func runes(s string) int { return len([]rune(s)) }
