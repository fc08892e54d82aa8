package paircode

import (
	"strings"
	"testing"
)

const fullFP = "3f9c2a0b4e6d8f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192"

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Code
	}{
		{"pin", "123456", Code{Secret: "123456"}},
		{"pin with spaces around", "  123456\n", Code{Secret: "123456"}},
		{"qr token", "pq_AbC-123_xyz", Code{Secret: "pq_AbC-123_xyz"}},
		{"uri", "palyra://pair?code=pq_tok&addr=10.0.0.5:7444&ca=" + fullFP[:32],
			Code{Secret: "pq_tok", Gateway: "10.0.0.5:7444", CAFingerprint: fullFP[:32]}},
		{"uri upper case scheme and fingerprint", "PALYRA://pair?code=123456&addr=gw.lan:7444&ca=" + strings.ToUpper(fullFP),
			Code{Secret: "123456", Gateway: "gw.lan:7444", CAFingerprint: fullFP}},
		{"uri without addr or ca", "palyra://pair?code=123456", Code{Secret: "123456"}},
		{"uri with escaped code", "palyra://pair?code=a%2Bb&addr=%5B::1%5D:7444", Code{Secret: "a+b", Gateway: "[::1]:7444"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Parse = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := map[string]string{
		"empty":               "",
		"space inside":        "123 456",
		"control":             "12\x1b[2J",
		"too long":            strings.Repeat("a", maxCode+1),
		"uri without code":    "palyra://pair?addr=h:1",
		"uri other host":      "palyra://unpair?code=123456",
		"uri with path":       "palyra://pair/x?code=123456",
		"uri with userinfo":   "palyra://me@pair?code=123456",
		"uri bad addr":        "palyra://pair?code=123456&addr=nohost",
		"uri short ca":        "palyra://pair?code=123456&ca=3f9c2a",
		"uri non-hex ca":      "palyra://pair?code=123456&ca=" + strings.Repeat("g", 32),
		"uri control in code": "palyra://pair?code=12%0A34",
		"uri unparsable":      "palyra://pair?code=%zz",
		"uri opaque":          "palyra:pair?code=123456",
		"uri with fragment":   "palyra://pair?code=123456#x",
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if got, err := Parse(in); err == nil {
				t.Errorf("Parse(%q) = %+v, want an error", in, got)
			}
		})
	}
}

func TestNormalizeFingerprint(t *testing.T) {
	colons := ""
	for i := 0; i < len(fullFP); i += 2 {
		if i > 0 {
			colons += ":"
		}
		colons += strings.ToUpper(fullFP[i : i+2])
	}
	for _, in := range []string{fullFP, strings.ToUpper(fullFP), colons, " " + fullFP + " "} {
		if got, err := NormalizeFingerprint(in); err != nil || got != fullFP {
			t.Errorf("NormalizeFingerprint(%q) = %q, %v", in, got, err)
		}
	}
	if got, err := NormalizeFingerprint(fullFP[:33]); err != nil || got != fullFP[:33] {
		t.Errorf("odd-length prefix: %q, %v", got, err)
	}
	for _, in := range []string{fullFP[:31], fullFP + "00", "sha256:" + fullFP, ""} {
		if _, err := NormalizeFingerprint(in); err == nil {
			t.Errorf("NormalizeFingerprint(%q) accepted", in)
		}
	}
}

func TestMatches(t *testing.T) {
	ca := []byte("a CA certificate")
	fp := Fingerprint(ca)
	if !Matches(fp, ca) || !Matches(fp[:32], ca) {
		t.Error("own fingerprint does not match")
	}
	if Matches(Fingerprint([]byte("another CA")), ca) || Matches("", ca) {
		t.Error("foreign or empty fingerprint matches")
	}
}

func FuzzParse(f *testing.F) {
	f.Add("123456")
	f.Add("palyra://pair?code=pq_tok&addr=10.0.0.5:7444&ca=" + fullFP[:32])
	f.Add("palyra://pair?code=%zz")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := Parse(in)
		if err != nil {
			return
		}
		if checkSecret(c.Secret) != nil {
			t.Fatalf("accepted secret %q", c.Secret)
		}
		if c.CAFingerprint != "" {
			if _, err := NormalizeFingerprint(c.CAFingerprint); err != nil {
				t.Fatalf("accepted fingerprint %q", c.CAFingerprint)
			}
		}
	})
}
