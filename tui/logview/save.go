package logview

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/palyra/palyra/internal/plural"
	"github.com/palyra/palyra/supervisor/logs"
	"github.com/palyra/palyra/tui/status"
)

// save writes lines (a copy the caller no longer touches) to a new file in dir, private to
// the user, and reports the path on the status line.
func save(dir string, now func() time.Time, loc *time.Location, lines []logs.Line) tea.Cmd {
	return func() tea.Msg {
		path, err := writeLines(dir, now().In(loc), lines)
		if err != nil {
			return status.ErrorMsg(fmt.Errorf("save logs: %w", err))
		}
		return status.Msg{Text: fmt.Sprintf("saved %s %s to %s", thousands(len(lines)), plural.Word(len(lines), "line", "lines"), path)}
	}
}

func writeLines(dir string, at time.Time, lines []logs.Line) (string, error) {
	if dir == "" {
		dir = "."
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	// Never overwrite: a second save within the same second gets a suffix.
	base := filepath.Join(dir, "palyra-logs-"+at.Format("20060102-150405"))
	path := base + ".log"
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	for n := 2; errors.Is(err, os.ErrExist) && n < 100; n++ {
		path = fmt.Sprintf("%s-%d.log", base, n)
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	}
	if err != nil {
		return "", err
	}
	w := bufio.NewWriter(f)
	for _, l := range lines {
		level := l.Level
		if level == "" {
			level = "-"
		}
		fmt.Fprintf(w, "%s %s %s %s\n", l.Time.Format(time.RFC3339Nano), l.Service, level, l.Text)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}
