package textsafe

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClean(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", ""},
		{"plain ASCII", "level=info msg=ok", "level=info msg=ok"},
		{"valid UTF-8 kept", "héllo wörld ✓ 日本", "héllo wörld ✓ 日本"},
		{"tab becomes space", "a\tb", "a b"},
		{"line breaks become spaces", "a\r\nb", "a  b"},
		{"C0 controls removed", "a\x00b\x07c\x08d\x7f", "abcd"},
		{"invalid UTF-8", "a\xffb\xc3", "a\uFFFDb\uFFFD"},
		{"overlong encoding", "\xc0\xaf", "\uFFFD\uFFFD"},
		{"C1 control removed", "a\u0085b", "ab"},
		{"raw 8-bit CSI byte is invalid UTF-8", "a\x9b31mb", "a\uFFFD31mb"},
		{"SGR colour", "\x1b[1;31merror\x1b[0m done", "error done"},
		{"cursor movement", "x\x1b[2J\x1b[Hy", "xy"},
		{"private CSI", "\x1b[?1049hz", "z"},
		{"OSC title with BEL", "\x1b]0;pwned\x07text", "text"},
		{"OSC hyperlink with ST", "\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", "link"},
		{"OSC 52 clipboard", "\x1b]52;c;Y3VybCBldmlsfHNo\x07after", "after"},
		{"unterminated OSC swallows rest", "before\x1b]0;title", "before"},
		{"DCS", "a\x1bPq#0;2;0;0;0\x1b\\b", "ab"},
		{"APC", "a\x1b_hidden\x1b\\b", "ab"},
		{"charset designation", "\x1b(Bok", "ok"},
		{"keypad mode", "\x1b=ok", "ok"},
		{"lone ESC at end", "ok\x1b", "ok"},
		{"ESC ESC", "\x1b\x1b[31mred", "red"},
		{"CSI cut by control", "\x1b[12\nx", " x"},
		{"C1 CSI", "a\u009b31mb", "ab"},
		{"C1 OSC with C1 ST", "a\u009d0;t\u009cb", "ab"},
		{"bidi override removed", "file\u202egnp.exe", "filegnp.exe"},
		{"line separator removed", "a\u2028b", "ab"},
		{"replacement char kept", "\uFFFD", "\uFFFD"},
		{"zero-width space removed", "kitchen\u200b-pi", "kitchen-pi"},
		{"zero-width joiners removed", "a\u200cb\u200dc", "abc"},
		{"marks removed", "a\u200eb\u200fc\u061cd", "abcd"},
		{"bidi embeddings and isolates removed", "\u202aa\u202bb\u202cc\u202dd\u2066e\u2067f\u2068g\u2069h", "abcdefgh"},
		{"word joiner and invisible operators removed", "a\u2060b\u2061c\u2062d\u2063e\u2064f", "abcdef"},
		{"byte order mark removed", "\ufeffname", "name"},
		{"soft hyphen removed", "build\u00adbox", "buildbox"},
		{"tag characters removed", "pi\U000E0041\U000E007F", "pi"},
		{"Hangul filler removed", "box\u3164", "box"},
		{"emoji and accents kept", "caf\u00e9 \u2705 \u00f1", "caf\u00e9 \u2705 \u00f1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Clean(tt.in); got != tt.want {
				t.Fatalf("Clean(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if got := string(Append([]byte("p:"), []byte(tt.in))); got != "p:"+tt.want {
				t.Fatalf("Append(%q) = %q, want %q", tt.in, got, "p:"+tt.want)
			}
		})
	}
}

func TestCleanTextDoesNotAllocate(t *testing.T) {
	for _, s := range []string{"time=2026-01-02T03:04:05Z level=INFO msg=\"request done\" status=200", "héllo ✓"} {
		if n := testing.AllocsPerRun(100, func() { _ = Clean(s) }); n != 0 {
			t.Errorf("Clean(%q) allocates %v times, want 0", s, n)
		}
	}
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b[31mred\x1b[0m", "\x1b]0;t\x07", "\xff\xfe", "\u009b1m", "\x1bP\x1b\\", "a\tb\r\n", "\x1b]8;;\u009c",
		"kitchen\u200b-pi", "\ufeff\u2066x\u2069", "a\u00ad\U000E0041b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := Clean(in)
		if !utf8.ValidString(out) {
			t.Fatalf("Clean(%q) = %q: invalid UTF-8", in, out)
		}
		for _, r := range out {
			if r < 0x20 || (r >= 0x7f && r <= 0x9f) || invisible(r) {
				t.Fatalf("Clean(%q) = %q: contains %U", in, out, r)
			}
		}
		if again := Clean(out); again != out {
			t.Fatalf("Clean is not idempotent: %q -> %q -> %q", in, out, again)
		}
		if got := string(Append(nil, []byte(in))); got != out {
			t.Fatalf("Append(%q) = %q, Clean = %q", in, got, out)
		}
	})
}

func BenchmarkClean(b *testing.B) {
	cases := []struct{ name, in string }{
		{"ascii", `time=2026-01-02T03:04:05.123Z level=INFO msg="request done" method=GET path=/v1/devices status=200 dur=1.2ms`},
		{"utf8", strings.Repeat("héllo wörld ✓ ", 8)},
		{"escapes", strings.Repeat("\x1b[1;31merror\x1b[0m \t", 8)},
	}
	for _, c := range cases {
		b.Run(c.name+"/string", func(b *testing.B) {
			b.SetBytes(int64(len(c.in)))
			for b.Loop() {
				_ = Clean(c.in)
			}
		})
		b.Run(c.name+"/append", func(b *testing.B) {
			src, dst := []byte(c.in), make([]byte, 0, 4*len(c.in))
			b.SetBytes(int64(len(c.in)))
			for b.Loop() {
				dst = Append(dst[:0], src)
			}
		})
	}
}
