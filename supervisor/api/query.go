package api

import (
	"time"

	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/supervisor/logs"
)

// LogQuery selects log lines: stored ones first, then, with Follow, new ones as they come.
type LogQuery struct {
	Services []string  // empty means every service
	Since    time.Time // zero means the in-memory tail
	Tail     int       // stored lines to send first; 0 none, -1 all
	Follow   bool
	Grep     string // RE2 the text must match
}

// LogBatch is one message of a log stream.
type LogBatch struct {
	Lines    []logs.Line
	Dropped  uint64 // lines skipped for this stream because the reader fell too far behind
	Unstored uint64 // lines that never reached the log files (a full or failing disk)
	Behind   int64  // bytes written that the stream has yet to send: catching up when large
}

// SnapshotStream yields the current snapshot, then one per change, until an error.
type SnapshotStream interface {
	Recv() (supervisor.Snapshot, error)
}

// LogStream yields log batches until the query is done (io.EOF) or an error.
type LogStream interface {
	Recv() (LogBatch, error)
}
