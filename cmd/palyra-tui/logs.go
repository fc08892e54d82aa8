package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/palyra/palyra/internal/logtext"
	"github.com/palyra/palyra/internal/plural"
	"github.com/palyra/palyra/supervisor/api"
	"github.com/palyra/palyra/supervisor/logs"
	"github.com/palyra/palyra/supervisor/stack"
)

// logLineJSON is the documented shape of one `logs --json` line.
type logLineJSON struct {
	Time    time.Time `json:"time"`
	Service string    `json:"service"`
	Stream  string    `json:"stream"`
	Level   string    `json:"level"`
	Text    string    `json:"text"`
	Seq     uint64    `json:"seq"`
}

func newLogsCmd(g *globals) *cobra.Command {
	var (
		follow   bool
		services []string
		since    string
		grep     string
		asJSON   bool
		lines    int
	)
	cmd := &cobra.Command{
		Use:   "logs",
		Short: "Print the services' logs; -f follows",
		Long: "Print the services' stored log lines, the newest -n of them, then with -f the new ones.\n" +
			"Without a supervisor the lines are read from the log files; -f then prints them, says it\n" +
			"cannot follow and exits 1.",
		Example: "  palyra-tui logs -f --service daemon\n" +
			"  palyra-tui logs --since 10m --grep 'error|panic' --json",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := api.LogQuery{Services: services, Follow: follow, Grep: grep, Tail: lines}
			if since != "" {
				t, err := parseSince(since, time.Now())
				if err != nil {
					return usageError{err}
				}
				q.Since = t
				if !cmd.Flags().Changed("lines") {
					q.Tail = -1 // everything since then
				}
			}
			defer interruptible(cmd)()
			ctx := cmd.Context()
			out := newLogPrinter(cmd.OutOrStdout(), asJSON)
			defer out.w.Flush()
			client, err := stack.Attach(ctx, g.cfg)
			if errors.Is(err, api.ErrNotRunning) {
				return printStoredLogs(g.cfg, q, out)
			}
			if err != nil {
				return err
			}
			defer client.Close()
			stream, err := client.Logs(ctx, q)
			if err != nil {
				return err
			}
			progress := catchUp{w: cmd.ErrOrStderr()}
			for {
				batch, err := stream.Recv()
				if errors.Is(err, io.EOF) || ctx.Err() != nil {
					return nil
				}
				if err != nil {
					return err
				}
				for _, l := range batch.Lines {
					out.print(l)
				}
				if batch.Dropped > 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "palyra-tui: %s skipped because this reader fell behind\n", plural.Count(int(batch.Dropped), "line", "lines"))
				}
				if batch.Unstored > 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "palyra-tui: %s never reached the log files (see `palyra-tui status`)\n", plural.Count(int(batch.Unstored), "line", "lines"))
				}
				progress.report(batch.Behind)
				// Follow mode flushes per batch so a pipe sees lines promptly; batches are
				// large under load, so this stays cheap.
				if err := out.w.Flush(); err != nil {
					return nil // reader went away (e.g. `| head`)
				}
			}
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&follow, "follow", "f", false, "keep printing new lines")
	f.StringSliceVarP(&services, "service", "s", nil, "only this service (repeatable: daemon, browserd)")
	f.StringVar(&since, "since", "", "lines since a duration ago (10m, 2h) or a time (RFC 3339), read from the log files")
	f.StringVar(&grep, "grep", "", "only lines matching this regular expression (RE2)")
	f.BoolVar(&asJSON, "json", false, "one JSON object per line")
	f.IntVarP(&lines, "lines", "n", 100, "stored lines to print first, the newest; -1 all (with --since: all unless given)")
	return cmd
}

// catchUp says on stderr when a follower falls behind the services and reads on from the
// files, and when it has caught up again.
type catchUp struct {
	w      io.Writer
	behind bool
}

// catchUpFrom is how far behind a follower is before it says so: more than a few batches.
const catchUpFrom = 8 << 20

func (c *catchUp) report(behind int64) {
	switch {
	case !c.behind && behind > catchUpFrom:
		c.behind = true
		fmt.Fprintf(c.w, "palyra-tui: catching up from the log files (%d MiB behind)\n", behind>>20)
	case c.behind && behind == 0:
		c.behind = false
		fmt.Fprintln(c.w, "palyra-tui: caught up")
	}
}

// printStoredLogs prints the stored lines q selects straight from the log files, for when no
// supervisor runs; the files may be written meanwhile. There is nothing to follow, so -f
// fails once they are printed.
func printStoredLogs(cfg stack.Config, q api.LogQuery, out *logPrinter) error {
	reader := logs.NewReader(cfg.LogDir())
	if err := checkStoredServices(cfg, reader, q.Services); err != nil {
		return err
	}
	lq := logs.Query{Services: q.Services, Since: q.Since, Last: max(q.Tail, 0)}
	if q.Grep != "" {
		grep, err := regexp.Compile(q.Grep)
		if err != nil {
			return fmt.Errorf("--grep: %w", err)
		}
		// As through the supervisor: matched as shown, a JSON line as `msg key=value`.
		lq.Match = func(l logs.Line) bool { return grep.MatchString(logtext.Compact(l.Text)) }
	}
	if !q.Since.IsZero() || q.Tail != 0 {
		if err := reader.Read(lq, func(l logs.Line) bool { out.print(l); return true }); err != nil {
			return err
		}
	}
	if q.Follow {
		return fmt.Errorf("%w on %s: printed the stored lines, but cannot follow; start it with `palyra-tui services start all`", api.ErrNotRunning, cfg.Home)
	}
	return nil
}

// checkStoredServices accepts the configured services and those with log files.
func checkStoredServices(cfg stack.Config, reader *logs.Reader, names []string) error {
	known, err := reader.Services()
	if err != nil {
		return err
	}
	for _, spec := range cfg.Specs() {
		if !slices.Contains(known, spec.Name) {
			known = append(known, spec.Name)
		}
	}
	for _, n := range names {
		if !slices.Contains(known, n) {
			return fmt.Errorf("no service %q (services: %v)", n, known)
		}
	}
	return nil
}

// logPrinter prints log lines as text or as JSON objects.
type logPrinter struct {
	w      *bufio.Writer
	asJSON bool
	enc    *json.Encoder
	text   lineWriter
}

func newLogPrinter(w io.Writer, asJSON bool) *logPrinter {
	bw := bufio.NewWriterSize(w, 256<<10)
	return &logPrinter{w: bw, asJSON: asJSON, enc: json.NewEncoder(bw), text: lineWriter{w: bw}}
}

func (p *logPrinter) print(l logs.Line) {
	if p.asJSON {
		p.enc.Encode(logLineJSON{Time: l.Time, Service: l.Service, Stream: string(l.Stream), Level: l.Level, Text: l.Text, Seq: l.Seq})
	} else {
		p.text.write(l)
	}
}

// parseSince accepts a duration back from now or an absolute time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			d = -d
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--since %q: want a duration like 10m or a time like 2026-11-23T10:00:00Z", s)
}

// lineWriter prints lines as text. Lines of one captured batch share a timestamp, so the
// formatted time is kept and reused: formatting it per line dominated `logs -f` under load.
type lineWriter struct {
	w        *bufio.Writer
	lastTime time.Time
	timeText string
}

func (lw *lineWriter) write(l logs.Line) {
	if !l.Time.Equal(lw.lastTime) {
		lw.lastTime = l.Time
		lw.timeText = l.Time.Format("2006-01-02T15:04:05.000Z07:00")
	}
	w := lw.w
	w.WriteString(lw.timeText)
	w.WriteByte(' ')
	w.WriteString(pad(l.Service, 8))
	w.WriteByte(' ')
	w.WriteString(levelColumn(l))
	w.WriteByte(' ')
	w.WriteString(logtext.Compact(l.Text))
	w.WriteByte('\n')
}

// levelColumn is the level, or the stream when the line has none, upper-cased and padded.
func levelColumn(l logs.Line) string {
	switch {
	case l.Level != "":
		return pad(strings.ToUpper(l.Level), 10)
	case l.Stream == logs.Stdout:
		return "STDOUT    "
	case l.Stream == logs.Stderr:
		return "STDERR    "
	default:
		return pad(strings.ToUpper(string(l.Stream)), 10)
	}
}

func pad(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return s + strings.Repeat(" ", n-len(s))
}
