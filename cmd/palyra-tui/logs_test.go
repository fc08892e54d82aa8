package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/palyra/palyra/supervisor/logs"
)

// shownTexts returns the text column of `logs` output: what follows the level column.
func shownTexts(out string) []string {
	var texts []string
	for line := range strings.Lines(out) {
		// time, service (8), level column (10), text
		fields := strings.SplitN(strings.TrimSuffix(line, "\n"), " ", 2)
		if len(fields) == 2 && len(fields[1]) > 20 {
			texts = append(texts, fields[1][20:])
		}
	}
	return texts
}

func numbered(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s %02d", prefix, i))
	}
	return out
}

// TestLogsWithoutSupervisor: with no supervisor, `logs` reads the log files, while a store
// still writes into them, with the same filters as through a supervisor.
func TestLogsWithoutSupervisor(t *testing.T) {
	home := t.TempDir()
	store, err := logs.Open(logs.Options{Dir: filepath.Join(home, "logs")})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		store.Note("daemon", fmt.Sprintf("daemon line %02d", i))
		if i < 10 {
			store.Note("browserd", fmt.Sprintf("browserd line %02d", i))
		}
	}
	store.Note("daemon", `{"level":"ERROR","msg":"palyrad failed","err":"disk full"}`)
	// Flushed to the files by a read through the store.
	if err := store.Read(logs.Query{Last: 1}, func(logs.Line) bool { return true }); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
				store.Note("node", fmt.Sprintf("meanwhile %d", i))
			}
		}
	})
	t.Cleanup(func() {
		close(stop)
		wg.Wait()
		store.Close()
	})

	run := func(args ...string) outcome {
		t.Helper()
		return runCLI(t, context.Background(), nil, append([]string{"--home", home, "logs"}, args...)...)
	}
	daemon := append(numbered("daemon line", 0, 30), `palyrad failed err="disk full"`)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"newest lines", []string{"--service", "daemon", "-n", "3"}, daemon[28:]},
		{"more than stored", []string{"--service", "daemon", "-n", "1000"}, daemon},
		{"two services", []string{"--service", "browserd", "--service", "daemon", "-n", "3"}, daemon[28:]},
		{"grep as shown", []string{"--service", "daemon", "--grep", `^(daemon line 0[0-2]|palyrad failed err=)`, "-n", "-1"}, append(numbered("daemon line", 0, 3), daemon[30])},
		{"newest matches", []string{"--service", "daemon", "--service", "browserd", "--grep", "line 0[89]$", "-n", "3"}, []string{"browserd line 08", "daemon line 09", "browserd line 09"}},
		{"since", []string{"--service", "browserd", "--since", "1h"}, numbered("browserd line", 0, 10)},
		{"since, newest", []string{"--service", "browserd", "--since", "1h", "-n", "2"}, numbered("browserd line", 8, 10)},
		{"since the future", []string{"--service", "browserd", "--since", "2999-01-01"}, nil},
		{"no stored lines asked for", []string{"--service", "daemon", "-n", "0"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := run(tc.args...)
			o.expect(t, 0)
			if got := shownTexts(o.stdout); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("printed %q, want %q", got, tc.want)
			}
			if o.stderr != "" {
				t.Errorf("stderr %q, want none", o.stderr)
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		o := run("--service", "browserd", "-n", "1", "--json")
		o.expect(t, 0)
		var l logLineJSON
		if err := json.Unmarshal([]byte(o.stdout), &l); err != nil || l.Service != "browserd" || l.Stream != "supervisor" || l.Text != "browserd line 09" || l.Seq == 0 || l.Time.IsZero() {
			t.Errorf("json %q: %+v %v", o.stdout, l, err)
		}
	})
	t.Run("a service being written", func(t *testing.T) {
		o := run("--service", "node", "-n", "5")
		o.expect(t, 0)
		got := shownTexts(o.stdout)
		var first int
		for i, text := range got {
			var k int
			if _, err := fmt.Sscanf(text, "meanwhile %d", &k); err != nil || i > 0 && k != first+i {
				t.Fatalf("printed %q: not consecutive", got)
			}
			if i == 0 {
				first = k
			}
		}
		if len(got) != 5 {
			t.Errorf("printed %q, want 5 lines", got)
		}
	})
	t.Run("unknown service", func(t *testing.T) {
		o := run("--service", "nope")
		o.expect(t, 1, `no service "nope"`, "daemon", "browserd")
	})
	t.Run("bad grep", func(t *testing.T) {
		o := run("--grep", "(unclosed")
		o.expect(t, 1, "--grep", "missing closing )")
	})
	t.Run("follow", func(t *testing.T) {
		o := run("--service", "daemon", "-n", "2", "-f")
		o.expect(t, 1, "the supervisor is not running", "cannot follow", "palyra-tui services start all")
		if got := shownTexts(o.stdout); strings.Join(got, "\n") != strings.Join(daemon[29:], "\n") {
			t.Errorf("printed %q before giving up, want %q", got, daemon[29:])
		}
	})
}
