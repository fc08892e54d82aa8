package logtext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCompact(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"slog line", `{"time":"2026-11-23T11:29:19.9Z","level":"INFO","msg":"palyrad started","pid":42,"home":"/tmp/ph"}`, `palyrad started pid=42 home=/tmp/ph`},
		{"quoted value", `{"level":"ERROR","msg":"listen failed","err":"address already in use"}`, `listen failed err="address already in use"`},
		{"nested", `{"msg":"x","req":{"a":1}}`, `x req={"a":1}`},
		{"no msg", `{"service":"daemon","addrs":{"admin":"127.0.0.1:1"}}`, `{"service":"daemon","addrs":{"admin":"127.0.0.1:1"}}`},
		{"ready line", `{"palyra_ready":true,"service":"daemon","version":"0.1.0","pid":42,"addrs":{"node":"127.0.0.1:7444","admin":"127.0.0.1:7443"}}`,
			`ready admin=127.0.0.1:7443 node=127.0.0.1:7444`},
		{"hostile ready line", `{"palyra_ready":true,"addrs":{"admin":"127.0.0.1:1\u001b]0;x\u0007"}}`, `ready admin=127.0.0.1:1`},
		{"plain text", `listening on :7443`, `listening on :7443`},
		{"broken json", `{"msg":"x",`, `{"msg":"x",`},
		{"msg not a string", `{"msg":12}`, `{"msg":12}`},
		{"trailing garbage kept whole", `{"msg":"a"} tail`, `a`},
		{"escaped control characters cleaned", `{"msg":"red \u001b[31mX\u001b[0m","k":"a\nb"}`, `red X k="a\nb"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Compact(tc.in); got != tc.want {
				t.Errorf("Compact(%s) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzCompact(f *testing.F) {
	f.Add(`{"time":"t","level":"INFO","msg":"m","k":"v w"}`)
	f.Add(`{"msg":"\u001b[31m"}`)
	f.Fuzz(func(t *testing.T, in string) {
		out := Compact(in)
		if out != in && (!utf8.ValidString(out) || strings.ContainsAny(out, "\x1b\x07\n")) {
			t.Fatalf("Compact(%q) = %q: not terminal-safe", in, out)
		}
	})
}

func BenchmarkCompact(b *testing.B) {
	line := `{"time":"2026-11-23T11:29:19.977253644Z","level":"INFO","msg":"palyrad started","version":"0.1.0-dev","pid":8295,"home":"/tmp/ph1","admin_addr":"127.0.0.1:34805"}`
	for b.Loop() {
		Compact(line)
	}
}
