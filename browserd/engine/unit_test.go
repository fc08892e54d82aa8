package engine

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

func TestParseKey(t *testing.T) {
	tests := []struct {
		spec string
		key  string
		mods []chromedp.Modifier
		bad  bool
	}{
		{spec: "Enter", key: kb.Enter},
		{spec: "a", key: "a"},
		{spec: "+", key: "+"},
		{spec: "Ctrl+A", key: "A", mods: []chromedp.Modifier{chromedp.ModifierCtrl}},
		{spec: "shift+Tab", key: kb.Tab, mods: []chromedp.Modifier{chromedp.ModifierShift}},
		{spec: "Cmd+Alt+ArrowUp", key: kb.ArrowUp, mods: []chromedp.Modifier{chromedp.ModifierMeta, chromedp.ModifierAlt}},
		{spec: "Hyper+Q", bad: true},
		{spec: "Enterr", bad: true},
		{spec: "", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			key, mods, err := parseKey(tt.spec)
			if tt.bad {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("err = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil || key != tt.key || len(mods) != len(tt.mods) {
				t.Fatalf("= %q %v %v", key, mods, err)
			}
			for i := range mods {
				if mods[i] != tt.mods[i] {
					t.Fatalf("mods = %v", mods)
				}
			}
		})
	}
}

func TestParseRef(t *testing.T) {
	for sel, want := range map[string]int64{"ref=e12": 12, "[ref=e7]": 7, "e12": 0, "#ref": 0, "ref=e": 0, "ref=e-1": 0, "ref=ex": 0} {
		got, ok := parseRef(sel)
		if int64(got) != want || ok != (want > 0) {
			t.Errorf("parseRef(%q) = %d, %v", sel, got, ok)
		}
	}
}

func TestBudget(t *testing.T) {
	b := budget{max: 4, perSecond: 2}
	now := time.Unix(0, 0)
	if b.take(now) != nil || b.take(now.Add(10*time.Millisecond)) != nil {
		t.Fatal("first two refused")
	}
	if err := b.take(now.Add(20 * time.Millisecond)); !errors.Is(err, ErrBudget) {
		t.Fatalf("third in a second: %v", err)
	}
	if b.take(now.Add(time.Second)) != nil || b.take(now.Add(1500*time.Millisecond)) != nil {
		t.Fatal("refused after the window moved")
	}
	if err := b.take(now.Add(5 * time.Second)); !errors.Is(err, ErrBudget) || !strings.Contains(err.Error(), "4 actions") {
		t.Fatalf("past the cap: %v", err)
	}
	if b.used != 4 {
		t.Fatalf("used = %d", b.used)
	}
}

func TestRing(t *testing.T) {
	r := newRing[int](3)
	if got := r.items(); len(got) != 0 {
		t.Fatal(got)
	}
	for i := 1; i <= 5; i++ {
		r.push(i)
	}
	if got := r.items(); len(got) != 3 || got[0] != 3 || got[2] != 5 || r.dropped != 2 {
		t.Fatalf("items = %v, dropped %d", got, r.dropped)
	}
}

func TestSafeNameAndClip(t *testing.T) {
	for in, want := range map[string]string{
		"report.pdf": "report.pdf", "../../etc/passwd": "passwd", `..\x.txt`: "x.txt",
		".bashrc": "download.bashrc", "": "download", "a\nb": "a_b",
	} {
		if got := safeName(in); got != want {
			t.Errorf("safeName(%q) = %q, want %q", in, got, want)
		}
	}
	if got := clip("héllo", 2); got != "h…" {
		t.Errorf("clip on a rune boundary = %q", got)
	}
}

func axValue(s string) *accessibility.Value {
	b, _ := json.Marshal(s)
	return &accessibility.Value{Value: b}
}

func TestBuildSnapshot(t *testing.T) {
	nodes := []*accessibility.Node{
		{NodeID: "1", Role: axValue("RootWebArea"), Name: axValue("Page"), ChildIDs: []accessibility.NodeID{"2", "5"}, BackendDOMNodeID: 1},
		{NodeID: "2", ParentID: "1", Role: axValue("generic"), ChildIDs: []accessibility.NodeID{"3", "4"}, BackendDOMNodeID: 2},
		{NodeID: "3", ParentID: "2", Role: axValue("heading"), Name: axValue("Title"), ChildIDs: []accessibility.NodeID{"6"}, BackendDOMNodeID: 3,
			Properties: []*accessibility.Property{{Name: "level", Value: &accessibility.Value{Value: []byte("2")}}}},
		{NodeID: "6", ParentID: "3", Role: axValue("StaticText"), Name: axValue("Title"), BackendDOMNodeID: 6},
		{NodeID: "4", ParentID: "2", Role: axValue("button"), Name: axValue("Go"), BackendDOMNodeID: 4,
			Properties: []*accessibility.Property{{Name: "disabled", Value: &accessibility.Value{Value: []byte("true")}}}},
		{NodeID: "5", ParentID: "1", Ignored: true, Role: axValue("none"), BackendDOMNodeID: 5},
	}
	snap := buildSnapshot(nodes, 1<<10)
	want := "- heading \"Title\" [level=2] [ref=e3]\n- button \"Go\" [disabled] [ref=e4]\n"
	if snap.Text != want || snap.Truncated || len(snap.Nodes) != 2 {
		t.Fatalf("snapshot:\n%s\nwant:\n%s", snap.Text, want)
	}
	small := buildSnapshot(nodes, 40)
	if !small.Truncated || len(small.Nodes) != 1 || len(small.Text) > 40 {
		t.Fatalf("bounded snapshot: %+v", small)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://a.example/p?q=1":                     "https://a.example/p?q=1",
		"https://a.example/cb?code=abc&state=xyz&x=1": "https://a.example/cb?code=redacted&state=redacted&x=1",
		"https://a.example/?access_token=t#frag":      "https://a.example/?access_token=redacted",
		"https://u:pw@a.example/":                     "https://u:redacted@a.example/",
		"http://a.example/?MyPassword=1&Api_Key=2":    "http://a.example/?Api_Key=redacted&MyPassword=redacted",
		"ws://127.0.0.1:1/blocked":                    "ws://127.0.0.1:1/blocked",
		"https://a.example/?x=1&token=abc%zz":         "https://a.example/?redacted",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"Enter", "Ctrl+A", "+", "Shift++", "a+b+c", "ctrl+", "é", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		key, _, err := parseKey(spec)
		if err == nil && key == "" {
			t.Fatalf("parseKey(%q) gave no key and no error", spec)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("parseKey(%q): %v is not ErrInvalid", spec, err)
		}
	})
}

func FuzzRedactURL(f *testing.F) {
	for _, s := range []string{"https://a/?token=x", "http://u:p@h/#f", "data:text/plain,hi", "%zz?token=1", "ws://h/?code=1&x=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out := redactURL(raw)
		in, err := url.Parse(raw)
		if err != nil || in.Scheme == "data" {
			return // kept to its scheme and host, or cut short
		}
		if strings.Contains(out, "#") {
			t.Fatalf("redactURL(%q) = %q kept the fragment", raw, out)
		}
		u, err := url.Parse(out)
		if err != nil {
			t.Fatalf("redactURL(%q) = %q, which does not parse", raw, out)
		}
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			t.Fatalf("redactURL(%q) = %q, whose query does not parse", raw, out)
		}
		for k, vs := range q {
			for _, v := range vs {
				if sensitiveKey(k) && v != "redacted" {
					t.Fatalf("redactURL(%q) = %q kept %s=%s", raw, out, k, v)
				}
			}
		}
	})
}
