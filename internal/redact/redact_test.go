package redact

import (
	"strings"
	"testing"
)

func TestLine(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"no secret", "level=info msg=started port=7443", "level=info msg=started port=7443"},
		{"empty", "", ""},
		{"logfmt password", "user=bob password=hunter2 ok=1", "user=bob password=<redacted> ok=1"},
		{"logfmt quoted", `msg=login password="hunter 2" ok=1`, `msg=login password="<redacted>" ok=1`},
		{"quoted with escaped quote", `token="a\"b" x=1`, `token="<redacted>" x=1`},
		{"single quoted", "secret='s3 cr3t' x=1", "secret='<redacted>' x=1"},
		{"colon header", "X-Api-Key: abc123", "X-Api-Key: <redacted>"},
		{"spaces around equals", "password = hunter2", "password = <redacted>"},
		{"key contains marker", "access_token=abc refresh_token=def", "access_token=<redacted> refresh_token=<redacted>"},
		{"camel case", "accessToken=abc clientSecret=def", "accessToken=<redacted> clientSecret=<redacted>"},
		{"dashed key", "x-amz-security-token=abc", "x-amz-security-token=<redacted>"},
		{"apikey without separator", "apikey=abc APIKEY=def", "apikey=<redacted> APIKEY=<redacted>"},
		{"private key", "PrivateKey=abc private-key=def", "PrivateKey=<redacted> private-key=<redacted>"},
		{"session and cookie", "session=abc set-cookie=def", "session=<redacted> set-cookie=<redacted>"},
		{"cookie header keeps going", "Cookie: a=1; b=2; c=3 next", "Cookie: <redacted> next"},
		{"signature and credential", "signature=abc credential=def", "signature=<redacted> credential=<redacted>"},
		{"passwd and passphrase", "passwd=a passphrase=b", "passwd=<redacted> passphrase=<redacted>"},
		{"json", `{"level":"INFO","token":"abc","n":1}`, `{"level":"INFO","token":"<redacted>","n":1}`},
		{"json spaced", `{"password": "abc"}`, `{"password": "<redacted>"}`},
		{"json number", `{"session":12345}`, `{"session":<redacted>}`},
		{"json escaped inside string", `{"msg":"got {\"token\":\"abc\"}"}`, `{"msg":"got {\"token\":\"<redacted>\"}"}`},
		{"authorization bearer", "Authorization: Bearer abc.def.ghi", "Authorization: Bearer <redacted>"},
		{"authorization basic", "authorization: Basic dXNlcjpwYXNz", "authorization: Basic <redacted>"},
		{"authorization json", `{"Authorization":"Bearer abc"}`, `{"Authorization":"Bearer <redacted>"}`},
		{"authorization raw", "authorization=abc", "authorization=<redacted>"},
		{"bearer anywhere", "calling with bearer abc123 now", "calling with bearer <redacted> now"},
		{"Bearer title case", "Bearer abc", "Bearer <redacted>"},
		{"BEARER upper case", "BEARER abc", "BEARER <redacted>"},
		{"bearer token phrase", "sent bearer token abc", "sent bearer token <redacted>"},
		{"bearer alone", "bearer", "bearer"},
		{"bearer at end", "bearer ", "bearer "},
		{"url userinfo", "GET https://bob:pw@example.com/x ok", "GET https://example.com/x ok"},
		{"url user only", "git clone https://ghp_abc@github.com/o/r", "git clone https://github.com/o/r"},
		{"url no userinfo", "see https://example.com/a@b", "see https://example.com/a@b"},
		{"query params", "GET /cb?code=1&access_token=abc&state=2", "GET /cb?code=1&access_token=<redacted>&state=2"},
		{"signed url", "https://s3/x?X-Amz-Credential=AK%2F1&X-Amz-Signature=ff00&X-Amz-Security-Token=tt", "https://s3/x?X-Amz-Credential=<redacted>&X-Amz-Signature=<redacted>&X-Amz-Security-Token=<redacted>"},
		{"url and query", "https://u:p@h/p?token=abc", "https://h/p?token=<redacted>"},
		{"already redacted", "token=<redacted>", "token=<redacted>"},
		{"empty value", "token= next", "token= next"},
		{"time colons", "12:30:45 started", "12:30:45 started"},
		{"short keys ignored", "key=abc id=1", "key=abc id=1"},
		{"value holding a key", "passwd=Authorization: Basic abc", "passwd=<redacted> Basic <redacted>"},
		{"value holding bearer", "passwd:xbearer abc", "passwd:<redacted> <redacted>"},
		{"url in userinfo", "x://y@https://u:p@h", "x://https://h"},
		{"slog text", `time=2026-01-02T03:04:05Z level=INFO msg="pair ok" device=d1 token=abc`, `time=2026-01-02T03:04:05Z level=INFO msg="pair ok" device=d1 token=<redacted>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Line(tt.in); got != tt.want {
				t.Fatalf("Line(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestLineWithoutSecretDoesNotAllocate(t *testing.T) {
	for _, s := range []string{
		"plain text without separators",
		`time=2026-01-02T03:04:05Z level=INFO msg="request done" status=200`,
		`{"time":"2026-01-02T03:04:05Z","level":"INFO","msg":"ok"}`,
	} {
		if n := testing.AllocsPerRun(100, func() { _ = Line(s) }); n != 0 {
			t.Errorf("Line(%q) allocates %v times, want 0", s, n)
		}
	}
}

// secretShapes are the forms a secret v can take in a line, under the key k.
var secretShapes = []func(key, secret string) string{
	func(k, v string) string { return k + "=" + v },
	func(k, v string) string { return k + ": " + v },
	func(k, v string) string { return `"` + k + `":"` + v + `"` },
	func(k, v string) string { return `"` + k + `": ` + v },
	func(k, v string) string { return k + `="` + v + ` x"` },
	func(k, v string) string { return `{\"` + k + `\":\"` + v + `\"}` },
	func(_, v string) string { return "Authorization: Bearer " + v },
	func(_, v string) string { return "Authorization: Basic " + v },
	func(_, v string) string { return "bearer " + v },
	func(_, v string) string { return "https://user:" + v + "@example.com/x" },
	func(_, v string) string { return "https://" + v + "@example.com" },
	func(k, v string) string { return "https://example.com/cb?a=1&" + k + "=" + v + "&b=2" },
	func(_, v string) string { return "Cookie: a=1; b=" + v },
}

var secretKeys = []string{"token", "password", "api_key", "X-Api-Key", "client_secret", "authorization", "sessionId", "Set-Cookie", "AccessToken"}

func FuzzLine(f *testing.F) {
	f.Add("", "hunter2hunter2", "", uint8(0), uint8(0))
	f.Add("password=", "abcdefgh", " x", uint8(2), uint8(1))
	f.Add(`"a":"`, "s3cr3tvalue", `"}`, uint8(3), uint8(2))
	f.Add("x://y@", "zzzzzzzz", "@q", uint8(9), uint8(0))
	f.Add("bearer ", "tokentoken", "", uint8(8), uint8(0))
	// Past bugs: a secret key's value hiding the next key, or the "bearer" in front of a secret.
	f.Add("pAsswd=", "000000000", "", uint8(7), uint8(0))
	f.Add("pAsswd:0", "000000001", "", uint8(8), uint8(0))
	f.Fuzz(func(t *testing.T, prefix, secret, suffix string, shape, key uint8) {
		out := Line(prefix + secret + suffix) // arbitrary input must not panic
		_ = out
		if len(secret) < 8 || !alnum(secret) {
			return
		}
		in := prefix + secretShapes[int(shape)%len(secretShapes)](secretKeys[int(key)%len(secretKeys)], secret) + suffix
		if strings.Index(in, secret) != strings.LastIndex(in, secret) {
			return // the secret also shows up outside its place, e.g. made of a key and a suffix
		}
		if out := Line(in); strings.Contains(out, secret) {
			t.Fatalf("Line(%q) = %q still holds %q", in, out, secret)
		}
	})
}

func alnum(s string) bool {
	for i := range len(s) {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

func BenchmarkLine(b *testing.B) {
	cases := []struct{ name, in string }{
		{"plain", "GET /v1/devices 200 1.2ms from 127.0.0.1 and some more words in it"},
		{"logfmt", `time=2026-01-02T03:04:05.123Z level=INFO msg="request done" method=GET path=/v1/devices status=200 dur=1.2ms`},
		{"json", `{"time":"2026-01-02T03:04:05.123Z","level":"INFO","msg":"request done","method":"GET","path":"/v1/devices","status":200}`},
		{"secret", `time=2026-01-02T03:04:05.123Z level=INFO msg="login" user=bob password=hunter2 authorization="Bearer abc"`},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.in)))
			for b.Loop() {
				_ = Line(c.in)
			}
		})
	}
}
