// Package ready is the one-line handshake a Palyra service prints on stdout once it listens:
// a JSON object naming its bound addresses, so a supervisor can start it with port 0.
package ready

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// Line is the ready announcement, e.g.
// {"palyra_ready":true,"service":"daemon","version":"0.1.0","pid":42,"addrs":{"admin":"127.0.0.1:7443"}}.
type Line struct {
	Ready   bool              `json:"palyra_ready"`
	Service string            `json:"service"`
	Version string            `json:"version"`
	PID     int               `json:"pid"`
	Addrs   map[string]string `json:"addrs"`
}

var prefix = []byte(`{"palyra_ready":true`)

// Print writes l as a single line.
func Print(w io.Writer, l Line) error {
	l.Ready = true
	b, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("encode ready line: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Parse reports whether text is a ready line and decodes it.
func Parse(text []byte) (Line, bool) {
	if !bytes.HasPrefix(bytes.TrimSpace(text), prefix) {
		return Line{}, false
	}
	var l Line
	if err := json.Unmarshal(text, &l); err != nil || !l.Ready {
		return Line{}, false
	}
	return l, true
}
