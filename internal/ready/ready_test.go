package ready

import (
	"bytes"
	"testing"
)

func TestPrintThenParse(t *testing.T) {
	var buf bytes.Buffer
	in := Line{Service: "daemon", Version: "1.2.3", PID: 42, Addrs: map[string]string{"admin": "127.0.0.1:7443"}}
	if err := Print(&buf, in); err != nil {
		t.Fatal(err)
	}
	if bytes.Count(buf.Bytes(), []byte("\n")) != 1 || !bytes.HasSuffix(buf.Bytes(), []byte("\n")) {
		t.Fatalf("not exactly one line: %q", buf.String())
	}
	got, ok := Parse(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	if !ok || got.Service != "daemon" || got.PID != 42 || got.Addrs["admin"] != "127.0.0.1:7443" || !got.Ready {
		t.Fatalf("Parse = %+v, %v", got, ok)
	}
}

func TestParseRejects(t *testing.T) {
	for _, text := range []string{
		``,
		`listening on 127.0.0.1:7443`,
		`{"palyra_ready":false,"addrs":{}}`,
		`{"palyra_ready":true,"addrs":`,
		`{"service":"daemon","palyra_ready":true}`, // the flag must lead, as Print writes it
		`{"palyra_ready":true,"addrs":["not","a","map"]}`,
	} {
		if l, ok := Parse([]byte(text)); ok {
			t.Errorf("Parse(%q) = %+v, want no ready line", text, l)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"palyra_ready":true,"service":"daemon","pid":1,"addrs":{"admin":"127.0.0.1:1"}}`))
	f.Add([]byte(`{"palyra_ready":true}`))
	f.Fuzz(func(t *testing.T, text []byte) {
		l, ok := Parse(text)
		if ok && !l.Ready {
			t.Fatalf("accepted a line that is not ready: %q", text)
		}
	})
}
