package capabilities

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/palyra/palyra/node/mediation"
)

// openerScript writes a program that records its arguments, one per line, into a file, and
// returns the program and that file.
func openerScript(t *testing.T, exit int) (string, string) {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "opened")
	script := filepath.Join(dir, "opener")
	body := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\" >> '" + out + "'; done\necho 'no display' >&2\nexit " + string(rune('0'+exit)) + "\n"
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	return script, out
}

func newSet(t *testing.T, m Mediator, opener ...string) *Set {
	t.Helper()
	if opener == nil {
		opener = []string{"true"}
	}
	return New(Config{Mediator: m, Opener: opener, ProcDir: "testdata/proc", Started: time.Now().Add(-time.Minute), Version: "1.2.3"})
}

// recorder collects the progress states a call reports.
type recorder struct{ states []string }

func (r *recorder) progress(s string) { r.states = append(r.states, s) }

func TestListAnnouncesEveryCapability(t *testing.T) {
	got := newSet(t, mediation.Deny).List()
	want := []Capability{
		{Name: Echo, Available: true},
		{Name: SystemHealth, Available: true},
		{Name: SystemInfo, Available: true},
		{Name: OpenURL, Available: true, Mediated: true},
	}
	if len(got) != len(want) {
		t.Fatalf("List = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("capability %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if newSet(t, mediation.Deny, "/nonexistent/opener").List()[3].Available {
		t.Error("open_url announced available without an opener")
	}
}

func TestEchoReturnsItsInput(t *testing.T) {
	s := newSet(t, mediation.Deny)
	r := s.Call(context.Background(), Echo, []byte(`{"a": [1, "x"]}`), 0, nil)
	if !r.OK || string(r.Output) != `{"a":[1,"x"]}` {
		t.Errorf("echo = %+v", r)
	}
	if r := s.Call(context.Background(), Echo, nil, 0, nil); !r.OK || string(r.Output) != "null" {
		t.Errorf("echo of no input = %+v", r)
	}
}

func TestCallErrors(t *testing.T) {
	s := newSet(t, mediation.Deny)
	tests := []struct {
		name, capability, input string
		maxOutput               int
		want                    string
	}{
		{"unknown capability", "shell.exec", `{}`, 0, "unsupported capability"},
		{"input not JSON", Echo, `{"a":`, 0, "input is not valid JSON: unexpected end of JSON input"},
		{"input trailing garbage", Echo, `{} x`, 0, "input is not valid JSON: invalid character 'x' after top-level value"},
		{"output over the limit", Echo, `"` + strings.Repeat("a", 100) + `"`, 64, "output exceeds 64 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.Call(context.Background(), tt.capability, []byte(tt.input), tt.maxOutput, nil)
			if r.OK || r.Error != tt.want || r.Output != nil {
				t.Errorf("Call = %+v, want failure %q without output", r, tt.want)
			}
		})
	}
}

func TestOutputCapIsInclusive(t *testing.T) {
	s := newSet(t, mediation.Deny)
	input := `"` + strings.Repeat("a", 62) + `"` // 64 bytes of output
	if r := s.Call(context.Background(), Echo, []byte(input), 64, nil); !r.OK || len(r.Output) != 64 {
		t.Errorf("64-byte output under a 64-byte cap: %+v", r)
	}
	big := `"` + strings.Repeat("a", DefaultMaxOutput) + `"`
	if r := s.Call(context.Background(), Echo, []byte(big), 0, nil); r.OK || r.Error != "output exceeds 65536 bytes" {
		t.Errorf("output over the default cap: OK=%v error %q", r.OK, r.Error)
	}
}

func TestSystemHealth(t *testing.T) {
	r := newSet(t, mediation.Deny).Call(context.Background(), SystemHealth, nil, 0, nil)
	if !r.OK {
		t.Fatal(r.Error)
	}
	var h Health
	if err := json.Unmarshal(r.Output, &h); err != nil {
		t.Fatal(err)
	}
	if !h.OK || h.UptimeSeconds < 60 || h.Goroutines < 1 {
		t.Errorf("health %+v", h)
	}
	if h.LoadAverage == nil || *h.LoadAverage != (LoadAverage{0.52, 0.58, 0.59}) {
		t.Errorf("load average %+v", h.LoadAverage)
	}
	if h.Memory == nil || *h.Memory != (Memory{TotalBytes: 16318028 * 1024, AvailableBytes: 9174500 * 1024}) {
		t.Errorf("memory %+v", h.Memory)
	}
	for _, key := range []string{`"ok":true`, `"uptime_seconds":`, `"goroutines":`, `"1m":0.52`, `"total_bytes":`} {
		if !strings.Contains(string(r.Output), key) {
			t.Errorf("output %s lacks %s", r.Output, key)
		}
	}
}

func TestSystemHealthWithoutProc(t *testing.T) {
	s := New(Config{Mediator: mediation.Deny, ProcDir: t.TempDir(), Started: time.Now()})
	r := s.Call(context.Background(), SystemHealth, nil, 0, nil)
	if !r.OK || strings.Contains(string(r.Output), "load_average") || strings.Contains(string(r.Output), "memory") {
		t.Errorf("health without /proc = %+v %s", r, r.Output)
	}
}

func TestSystemInfo(t *testing.T) {
	r := newSet(t, mediation.Deny).Call(context.Background(), SystemInfo, []byte(`{}`), 0, nil)
	if !r.OK {
		t.Fatal(r.Error)
	}
	var info Info
	if err := json.Unmarshal(r.Output, &info); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	want := Info{Hostname: host, OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(),
		GoVersion: runtime.Version(), NodeVersion: "1.2.3", Kernel: "6.8.0-45-generic"}
	if info != want {
		t.Errorf("info %+v, want %+v", info, want)
	}
}

func TestCheckURL(t *testing.T) {
	accepted := map[string]string{
		"https://example.com/path?q=1#top": "https://example.com/path?q=1#top",
		"http://10.0.0.5:8080/":            "http://10.0.0.5:8080/",
		"HTTPS://Example.com":              "https://Example.com",
		"https://[::1]:443/x":              "https://[::1]:443/x",
	}
	for in, want := range accepted {
		if got, err := CheckURL(in); err != nil || got != want {
			t.Errorf("CheckURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	refused := map[string]string{
		"":                            "input must be",
		"file:///etc/passwd":          "only http and https",
		"javascript:alert(1)":         "only http and https",
		"ftp://example.com/":          "only http and https",
		"https://user:pw@example.com": "user name or password",
		"https://user@example.com":    "user name or password",
		"https:///nohost":             "no host",
		"https:example.com":           "no host",
		"https://example.com/a b":     "printable ASCII",
		"https://exa\x1bmple.com/":    "printable ASCII",
		"https://exämple.com/":        "printable ASCII",
		"https://example.com/\u202e":  "printable ASCII",
		"-https://example.com":        "does not parse",
		"https://example.com/" + strings.Repeat("a", MaxURL): "longer than 2048",
	}
	for in, want := range refused {
		if got, err := CheckURL(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckURL(%.40q) = %q, %v; want an error containing %q", in, got, err, want)
		}
	}
	if _, err := CheckURL("https://example.com/" + strings.Repeat("a", MaxURL-len("https://example.com/"))); err != nil {
		t.Errorf("URL of exactly %d characters refused: %v", MaxURL, err)
	}
}

func TestOpenURLAllowedRunsOpenerWithoutShell(t *testing.T) {
	script, opened := openerScript(t, 0)
	s := newSet(t, mediation.Allow, script, "--new-tab")
	var rec recorder
	// Shell metacharacters reach the opener as one argument, untouched.
	url := "https://example.com/x;rm$IFS-rf~&a=$HOME"
	r := s.Call(context.Background(), OpenURL, []byte(`{"url":"`+url+`"}`), 0, rec.progress)
	var out struct{ Opened string }
	if !r.OK || json.Unmarshal(r.Output, &out) != nil || out.Opened != url {
		t.Fatalf("open_url = %+v %s", r, r.Output)
	}
	if strings.Join(rec.states, ",") != AwaitingMediation {
		t.Errorf("progress %v, want awaiting_mediation", rec.states)
	}
	got, err := os.ReadFile(opened)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "--new-tab\n"+url+"\n" {
		t.Errorf("opener got arguments %q", got)
	}
}

func TestOpenURLDenied(t *testing.T) {
	script, opened := openerScript(t, 0)
	var rec recorder
	r := newSet(t, mediation.Deny, script).Call(context.Background(), OpenURL, []byte(`{"url":"https://example.com"}`), 0, rec.progress)
	if r.OK || r.Error != "denied on the node" {
		t.Errorf("denied open_url = %+v", r)
	}
	if len(rec.states) != 1 || rec.states[0] != AwaitingMediation {
		t.Errorf("progress %v: the gateway must learn the call waits on the node first", rec.states)
	}
	if _, err := os.Stat(opened); !os.IsNotExist(err) {
		t.Error("the opener ran for a denied call")
	}
}

func TestOpenURLInvalidNeverAsks(t *testing.T) {
	var rec recorder
	for _, input := range []string{`{"url":"file:///etc/passwd"}`, `{"link":"https://x"}`, `"https://x"`} {
		r := newSet(t, mediation.Allow).Call(context.Background(), OpenURL, []byte(input), 0, rec.progress)
		if r.OK {
			t.Errorf("open_url %s succeeded", input)
		}
	}
	if len(rec.states) != 0 {
		t.Errorf("invalid calls reported %v", rec.states)
	}
}

func TestOpenURLOpenerFailure(t *testing.T) {
	script, _ := openerScript(t, 3)
	r := newSet(t, mediation.Allow, script).Call(context.Background(), OpenURL, []byte(`{"url":"https://example.com"}`), 0, func(string) {})
	if r.OK || !strings.Contains(r.Error, "exit status 3: no display") {
		t.Errorf("failing opener: %+v", r)
	}
}

// answer is a Mediator that records the question and gives a fixed answer.
type answer struct {
	question string
	ok       bool
}

func (a *answer) Ask(_ context.Context, q string) (bool, error) {
	a.question = q
	return a.ok, nil
}

func TestOpenURLAsksAboutTheURL(t *testing.T) {
	a := &answer{}
	newSet(t, a).Call(context.Background(), OpenURL, []byte(`{"url":"https://example.com/x"}`), 0, func(string) {})
	if a.question != "Open https://example.com/x for the gateway?" {
		t.Errorf("asked %q", a.question)
	}
}

func FuzzCheckURL(f *testing.F) {
	f.Add("https://example.com/path")
	f.Add("https://user@example.com")
	f.Add("http://[::1]:80")
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := CheckURL(raw)
		if err != nil {
			return
		}
		again, err := CheckURL(got)
		if err != nil || again != got {
			t.Fatalf("accepted %q as %q, which then gives %q, %v", raw, got, again, err)
		}
		if !strings.HasPrefix(got, "http://") && !strings.HasPrefix(got, "https://") {
			t.Fatalf("accepted %q", got)
		}
	})
}
