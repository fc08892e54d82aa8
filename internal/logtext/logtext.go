// Package logtext shows a structured log line the way an operator reads it: a JSON line from
// a service's slog handler becomes its message followed by key=value pairs, without the time
// and level that the viewer shows in its own columns.
package logtext

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/palyra/palyra/internal/ready"
	"github.com/palyra/palyra/internal/textsafe"
)

// Compact returns text unchanged unless it is a JSON object with a "msg" field; then it
// returns `msg key=value …` in the object's key order, without "time" and "level", made
// safe for a terminal. A service's ready line becomes `ready name=address …`.
func Compact(text string) string {
	if len(text) < 2 || text[0] != '{' {
		return text
	}
	if l, ok := ready.Parse([]byte(text)); ok {
		return readyText(l)
	}
	if !strings.Contains(text, `"msg"`) {
		return text
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return text
	}
	var msg string
	var rest bytes.Buffer
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return text
		}
		k, _ := kt.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return text
		}
		switch k {
		case "time", "level":
			continue
		case "msg":
			if err := json.Unmarshal(v, &msg); err != nil {
				return text
			}
			continue
		}
		rest.WriteByte(' ')
		rest.WriteString(k)
		rest.WriteByte('=')
		rest.WriteString(value(v))
	}
	if msg == "" && rest.Len() == 0 {
		return text
	}
	// Decoding turns escapes like \u001b back into control characters: clean again.
	return textsafe.Clean(msg + rest.String())
}

// readyText lists the addresses a ready line announces, by name.
func readyText(l ready.Line) string {
	var b strings.Builder
	b.WriteString("ready")
	for _, name := range slices.Sorted(maps.Keys(l.Addrs)) {
		b.WriteString(" " + name + "=" + l.Addrs[name])
	}
	return textsafe.Clean(b.String())
}

// value prints strings bare unless they need quotes; everything else as JSON.
func value(v json.RawMessage) string {
	if len(v) == 0 || v[0] != '"' {
		return string(v)
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return string(v)
	}
	if s == "" || strings.ContainsAny(s, " \"=\n\t") {
		return strconv.Quote(s)
	}
	return s
}
