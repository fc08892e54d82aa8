// Package logs captures the output of supervised children: line by line, never blocking a
// child, into a bounded in-memory ring per service and a size-rotated file on disk.
package logs

import "time"

// Stream says where a line came from.
type Stream string

// The streams. Supervisor lines are the supervisor's own notes about a service
// ("started pid 42", "exited with code 1; restart in 2s").
const (
	Stdout     Stream = "stdout"
	Stderr     Stream = "stderr"
	Supervisor Stream = "supervisor"
)

// Line is one captured log line. Text is already redacted and free of control characters.
type Line struct {
	Seq     uint64 // increasing per store, across services
	Time    time.Time
	Service string
	Stream  Stream
	Level   string // debug, info, warn, error, or empty
	Text    string
}
