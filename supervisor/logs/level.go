package logs

import "strings"

// parseLevel returns the level a JSON ("level":"INFO") or logfmt (level=warn) line declares,
// as debug, info, warn or error, or "" when it declares none we know.
func parseLevel(text string) string {
	for from := 0; ; {
		i := strings.Index(text[from:], "level")
		if i < 0 {
			return ""
		}
		i += from
		from = i + len("level")
		value, ok := levelValue(text, i, text[from:])
		if ok {
			return levelName(value)
		}
	}
}

// levelValue returns the word after the "level" key found at i, whose text goes on with rest.
func levelValue(text string, i int, rest string) (string, bool) {
	switch {
	case i > 0 && text[i-1] == '"' && strings.HasPrefix(rest, `":`):
		rest = strings.TrimLeft(rest[2:], " ")
		if !strings.HasPrefix(rest, `"`) {
			return "", false
		}
		rest = rest[1:]
	case (i == 0 || text[i-1] == ' ') && strings.HasPrefix(rest, "="):
		rest = strings.TrimPrefix(rest[1:], `"`)
	default:
		return "", false
	}
	n := 0
	for n < len(rest) && (rest[n]|0x20 >= 'a' && rest[n]|0x20 <= 'z') {
		n++
	}
	return rest[:n], true
}

// levelName maps the level words of common loggers onto ours; slog's "INFO+2" arrives here
// as "INFO".
func levelName(word string) string {
	for _, l := range levelWords {
		for _, w := range l.words {
			if strings.EqualFold(word, w) {
				return l.name
			}
		}
	}
	return ""
}

var levelWords = []struct {
	name  string
	words []string
}{
	{"info", []string{"info", "notice"}},
	{"debug", []string{"debug", "trace"}},
	{"warn", []string{"warn", "warning"}},
	{"error", []string{"error", "err", "fatal", "panic", "crit", "critical", "alert", "emerg", "emergency"}},
}
