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
		{"admin token anywhere", "denied: leaked " + adminToken + " here", "denied: leaked pa_<redacted> here"},
		{"admin token in JSON", `{"level":"INFO","reason":"` + adminToken + `"}`, `{"level":"INFO","reason":"pa_<redacted>"}`},
		{"admin token inside a word", "x" + adminToken + "y", "xpa_<redacted>"},
		{"scoped token keeps its id", "use " + scopedToken + ", then", "use pt_0a1b2c3d4e5f_<redacted>, then"},
		{"scoped token in a URL", "https://h/p#" + scopedToken, "https://h/p#pt_0a1b2c3d4e5f_<redacted>"},
		{"two tokens", adminToken + " " + scopedToken, "pa_<redacted> pt_0a1b2c3d4e5f_<redacted>"},
		{"short pa_ words kept", "pa_config pt_0a1b2c3d4e5f_short pt_x_" + adminToken[3:], "pa_config pt_0a1b2c3d4e5f_short pt_x_" + adminToken[3:]},
		{"token word", "denied: token s3cr3tvalue was pasted", "denied: token <redacted> was pasted"},
		{"TOKEN upper case", "TOKEN s3cr3tvalue", "TOKEN <redacted>"},
		{"token after a tab", "Token\ts3cr3tvalue", "Token\t<redacted>"},
		{"token after an escaped tab", `{"reason":"token\ts3cr3tvalue"}`, `{"reason":"token\t<redacted>"}`},
		{"token before punctuation", "(token s3cr3tvalue;)", "(token <redacted>;)"},
		{"token long mixed case", "token AbCdEfGhIjKlMnOpQr", "token <redacted>"},
		{"token prose kept", "a token needs a name; token expired, token refused", "a token needs a name; token expired, token refused"},
		{"token path kept", "admin token /tmp/Test12/admin.token is readable by others", "admin token /tmp/Test12/admin.token is readable by others"},
		{"token short word kept", "page token 12 ok", "page token 12 ok"},
		{"Bearer after a tab", "Bearer\tabc", "Bearer\t<redacted>"},
		{"Bearer after an escaped tab", `{"reason":"Bearer\tabc"}`, `{"reason":"Bearer\t<redacted>"}`},
		{"Bearer after an escaped line break", `reason="Bearer\nabc"`, `reason="Bearer\n<redacted>"`},
		{"bearer mixed case", "bEaReR abc", "bEaReR <redacted>"},
		{"bearer before an escaped quote", `{"msg":"got {\"note\":\"Bearer abc\"}"}`, `{"msg":"got {\"note\":\"Bearer <redacted>\"}"}`},
		{"authorization after an escaped tab", `{"authorization":"Bearer\tabc"}`, `{"authorization":"Bearer\t<redacted>"}`},
		{"device names kept", "device paired device=d1 name=kitchen-pi_2 platform=linux/arm64", "device paired device=d1 name=kitchen-pi_2 platform=linux/arm64"},
		{"plain JSON kept", `{"name":"laptop-9","platform":"linux/amd64","peer":"192.0.2.44:51234","method":"pin"}`, `{"name":"laptop-9","platform":"linux/amd64","peer":"192.0.2.44:51234","method":"pin"}`},
		{"Kelvin sign is no k", "to\u212aen s3cr3tvalue", "to\u212aen s3cr3tvalue"},
		{"slog text", `time=2026-01-02T03:04:05Z level=INFO msg="pair ok" device=d1 token=abc`, `time=2026-01-02T03:04:05Z level=INFO msg="pair ok" device=d1 token=<redacted>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Line(tt.in); got != tt.want {
				t.Fatalf("Line(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
			// Told exactly which clues the text holds, as the log capture tells it,
			// LineWith redacts the same.
			if got := LineWith(tt.in, cluesOf(tt.in)); got != tt.want {
				t.Fatalf("LineWith(%q, %b)\n got %q\nwant %q", tt.in, cluesOf(tt.in), got, tt.want)
			}
		})
	}
}

// cluesOf returns the clues s holds, byte by byte.
func cluesOf(s string) Clues {
	var c Clues
	for i := range len(s) {
		switch s[i] {
		case '=', ':':
			c |= ClueSeparator
		case 'b', 'B':
			c |= ClueBearer
		case 'k', 'K':
			c |= ClueToken
		case '_':
			c |= ClueUnderscore
		}
	}
	return c
}

// Tokens shaped as daemon/access makes them.
const (
	adminToken  = "pa_Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGw"
	scopedToken = "pt_0a1b2c3d4e5f_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I"
)

func TestText(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", ""},
		{"one line", "password=x", "password=<redacted>"},
		{"each line on its own", "{\n  \"password\": \"hunter2\",\n  \"n\": 1\n}", "{\n  \"password\": \"<redacted>\",\n  \"n\": 1\n}"},
		{"a value ends with its line", "password=abc\nnext line", "password=<redacted>\nnext line"},
		{"token on a later line", "deploy 42\nwith " + adminToken + "\n", "deploy 42\nwith pa_<redacted>\n"},
		{"nothing to hide", "line one\nline two\n", "line one\nline two\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Text(tt.in); got != tt.want {
				t.Fatalf("Text(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
	s := "line one\nline two: fine\n"
	if n := testing.AllocsPerRun(100, func() { _ = Text(s) }); n != 0 {
		t.Errorf("Text(%q) allocates %v times, want 0", s, n)
	}
}

func TestLineWithoutSecretDoesNotAllocate(t *testing.T) {
	for _, s := range []string{
		"plain text without separators",
		`time=2026-01-02T03:04:05Z level=INFO msg="request done" status=200`,
		`{"time":"2026-01-02T03:04:05Z","level":"INFO","msg":"ok"}`,
		"the token expired; pa_config and pt_0a1b_ stay, Bearer",
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
	func(_, v string) string { return "Bearer\t" + v },
	func(_, v string) string { return `"Bearer\t` + v + `"` },
	func(_, v string) string { return "bEaReR " + v },
	func(_, v string) string { return "token a9" + v },
	func(_, v string) string { return `TOKEN\na9` + v },
	func(_, v string) string { return "pa_" + v + strings.Repeat("A", max(0, 43-len(v))) },
	func(_, v string) string { return "pt_0a1b2c3d4e5f_" + v + strings.Repeat("-", max(0, 43-len(v))) },
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
	// Palyra's own tokens and the gaps and cases "bearer" and "token" come with.
	f.Add("denied: ", "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGw", " here", uint8(18), uint8(0))
	f.Add("x", "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I", "", uint8(19), uint8(0))
	f.Add(`{"reason":`, "abcdefgh1", `}`, uint8(14), uint8(0))
	f.Add("reason: ", "s3cr3tvalue", ".", uint8(16), uint8(0))
	f.Add("", "s3cr3tvalue", ":x", uint8(17), uint8(0))
	f.Add("", "abcdefgh", "", uint8(15), uint8(0))
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
		{"token", `{"time":"2026-01-02T03:04:05.123Z","level":"INFO","msg":"pairing request settled","reason":"pasted pa_Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGw"}`},
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
