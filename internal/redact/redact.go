// Package redact hides secrets in log lines before they are stored.
package redact

import (
	"slices"
	"strings"
)

// Redacted replaces every hidden value.
const Redacted = "<redacted>"

// markers are the key fragments that make a value secret. A key matches when, lower-cased,
// it contains a marker; an underscore in a marker matches any non-alphanumeric byte or none,
// so "token" covers access_token, refresh_token and X-Amz-Security-Token, "api_key" covers
// apikey and x-api-key, "cookie" covers set-cookie and "secret" covers client_secret.
var markers = []string{
	"api_key", "authorization", "bearer", "cookie", "credential", "passphrase", "passwd",
	"password", "private_key", "secret", "session", "signature", "token",
}

// schemes are the authorization schemes kept in front of the credential they introduce.
var schemes = []string{"basic", "bearer", "digest", "token"}

// Line returns s with secrets replaced by <redacted>:
//   - the value of key=value, key: value, "key":"value" and key="value" pairs whose key
//     holds a marker (query parameters included); an Authorization scheme such as Bearer or
//     Basic is kept, the credential after it is not;
//   - the word after "bearer", "Bearer" or "BEARER";
//   - the userinfo of a URL, which is removed: https://user:pass@host becomes https://host.
//
// Lines without '=', ':' or "bearer" are returned at once; s itself is returned, without
// allocating, when nothing is redacted.
func Line(s string) string {
	hasSep := strings.IndexByte(s, '=') >= 0 || strings.IndexByte(s, ':') >= 0
	hasBearer := indexBearer(s, 0) >= 0
	if !hasSep && !hasBearer {
		return s
	}
	// Both passes look at the same text, so neither hides the other's clue: in
	// "password=Xbearer abc" the value pass takes Xbearer and the bearer pass abc.
	var spans []span
	if hasSep {
		spans = valueSpans(s, spans)
	}
	if hasBearer {
		spans = bearerSpans(s, spans)
	}
	if len(spans) == 0 {
		return s
	}
	slices.SortFunc(spans, func(a, b span) int { return a.from - b.from })
	e := editor{src: s}
	for _, sp := range spans {
		e.replace(sp.from, sp.to, sp.with)
	}
	return e.result()
}

// span is a part of a line to replace.
type span struct {
	from, to int
	with     string
}

// editor builds an edited copy of src, allocating only on the first edit.
type editor struct {
	src  string
	out  []byte
	done int // src[:done] has been handled
}

// replace replaces src[from:to] with with. Edits come in order; the part of a span that an
// earlier edit already covered is left to that edit.
func (e *editor) replace(from, to int, with string) {
	if to <= e.done {
		return
	}
	from = max(from, e.done)
	if e.out == nil {
		e.out = make([]byte, 0, len(e.src)+len(Redacted))
	}
	e.out = append(e.out, e.src[e.done:from]...)
	e.out = append(e.out, with...)
	e.done = to
}

func (e *editor) result() string {
	if e.out == nil {
		return e.src
	}
	return string(append(e.out, e.src[e.done:]...))
}

// userinfo returns the span of the userinfo ("user:pass@") in the URL authority starting at
// start, if it has one.
func userinfo(s string, start int) (span, bool) {
	end := start
	for end < len(s) && !endsAuthority(s[end]) {
		end++
	}
	at := strings.LastIndexByte(s[start:end], '@')
	return span{start, start + at + 1, ""}, at >= 0
}

func endsAuthority(c byte) bool {
	switch c {
	case '/', '?', '#', ' ', '\t', '"', '\'', '\\', '<', '>':
		return true
	}
	return false
}

// valueSpans appends the values of secret keys, looking at every '=' and ':'.
func valueSpans(s string, spans []span) []span {
	// The next '=' and ':' at or after pos, -1 when none is left.
	eq, colon := nextByte(s, 0, '='), nextByte(s, 0, ':')
	for pos := 0; pos < len(s); {
		if eq >= 0 && eq < pos {
			eq = nextByte(s, pos, '=')
		}
		if colon >= 0 && colon < pos {
			colon = nextByte(s, pos, ':')
		}
		sep := eq
		if sep < 0 || (colon >= 0 && colon < sep) {
			sep = colon
		}
		if sep < 0 {
			break
		}
		pos = sep + 1
		if s[sep] == ':' && sep+2 < len(s) && s[sep+1] == '/' && s[sep+2] == '/' {
			if sp, ok := userinfo(s, sep+3); ok {
				spans = append(spans, sp)
				pos = sp.to // the userinfo goes whole; no need to look inside
			}
			continue
		}
		key := keyBefore(s, sep)
		if !secretKey(key) {
			continue
		}
		value := sep + 1
		if s[sep] == ':' || (sep > 0 && s[sep-1] == ' ') {
			value = skipSpaces(s, value) // "key: v" and "key = v", but "key= next" is empty
		}
		// The value is not skipped: a key inside it, as in "password=Authorization: Basic
		// abc", still gets its own value hidden.
		from, to := secretValue(s, value, containsMarker(key, "cookie"))
		if from < to && s[from:to] != Redacted {
			spans = append(spans, span{from, to, Redacted})
		}
	}
	return spans
}

// nextByte is strings.IndexByte from pos, as an absolute index.
func nextByte(s string, pos int, c byte) int {
	if i := strings.IndexByte(s[pos:], c); i >= 0 {
		return pos + i
	}
	return -1
}

// keyBefore returns the key that ends just before the separator at sep, looking past
// spaces and a closing quote (plain or JSON-escaped).
func keyBefore(s string, sep int) string {
	end := sep
	for end > 0 && s[end-1] == ' ' {
		end--
	}
	if end > 0 && s[end-1] == '"' {
		end--
		if end > 0 && s[end-1] == '\\' {
			end--
		}
	}
	start := end
	for start > 0 && isKeyByte(s[start-1]) {
		start--
	}
	return s[start:end]
}

func isKeyByte(c byte) bool { return keyBytes[c] }

var keyBytes = func() (t [256]bool) {
	for c := range 256 {
		t[c] = isAlnum(byte(c)) || c == '_' || c == '-' || c == '.'
	}
	return t
}()

func isAlnum(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// markersFrom lists the markers by their first byte.
var markersFrom = func() (t [256][]string) {
	for _, m := range markers {
		t[m[0]] = append(t[m[0]], m)
	}
	return t
}()

// shortestMarker is the length of the shortest key a marker can match ("token").
const shortestMarker = 5

// secretKey reports whether key contains one of the markers.
func secretKey(key string) bool {
	for i := 0; i+shortestMarker <= len(key); i++ {
		for _, m := range markersFrom[lower(key[i])] {
			if markerAt(key, i, m) {
				return true
			}
		}
	}
	return false
}

func containsMarker(key, m string) bool {
	for i := range len(key) {
		if markerAt(key, i, m) {
			return true
		}
	}
	return false
}

// markerAt reports whether marker m matches key at i, case-insensitively; '_' in m matches
// one non-alphanumeric byte or nothing.
func markerAt(key string, i int, m string) bool {
	for j := 0; j < len(m); j++ {
		if m[j] == '_' {
			if i < len(key) && !isAlnum(key[i]) {
				i++
			}
			continue
		}
		if i >= len(key) || lower(key[i]) != m[j] {
			return false
		}
		i++
	}
	return true
}

func skipSpaces(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// secretValue finds the value starting at i and returns the span to hide, [from, to).
// Quoted values (plain, single or JSON-escaped quotes) keep their quotes; a leading
// authorization scheme is kept. Cookie values run on across "; ".
func secretValue(s string, i int, cookie bool) (from, to int) {
	if i >= len(s) {
		return i, i
	}
	switch {
	case s[i] == '"':
		from, to = i+1, closingQuote(s, i+1)
	case s[i] == '\'':
		from, to = i+1, len(s)
		if j := strings.IndexByte(s[from:], '\''); j >= 0 {
			to = from + j
		}
	case strings.HasPrefix(s[i:], `\"`):
		from, to = i+2, len(s)
		if j := strings.Index(s[from:], `\"`); j >= 0 {
			to = from + j
		}
	default:
		from = skipSchemes(s, i, schemes)
		to = wordEnd(s, from)
		for cookie && to < len(s) && s[to] == ' ' && to > from && s[to-1] == ';' {
			to = wordEnd(s, skipSpaces(s, to))
		}
		return from, to
	}
	return skipSchemes(s[:to], from, schemes), to
}

// closingQuote returns the index of the '"' that closes a string opened before i, honouring
// backslash escapes, or len(s).
func closingQuote(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case '\\':
			i += 2
		case '"':
			return i
		default:
			i++
		}
	}
	return len(s)
}

// wordEnd returns the end of the unquoted word starting at i.
func wordEnd(s string, i int) int {
	for i < len(s) && !endsWord(s[i]) {
		i++
	}
	return i
}

func endsWord(c byte) bool {
	switch c {
	case ' ', '\t', ',', '&', '"', '\'', '}', ']', ')':
		return true
	}
	return false
}

// skipSchemes moves i past any words of names (in any case) each followed by spaces, as long
// as something follows them: "Bearer Bearer abc" leaves "abc".
func skipSchemes(s string, i int, names []string) int {
	for {
		end := wordEnd(s, i)
		next := skipSpaces(s, end)
		if next == end || next >= len(s) || !oneOf(s[i:end], names) {
			return i
		}
		i = next
	}
}

func oneOf(word string, names []string) bool {
	for _, n := range names {
		if strings.EqualFold(word, n) {
			return true
		}
	}
	return false
}

// bearerSpans appends the word after each "bearer" (and after a "token" following it).
func bearerSpans(s string, spans []span) []span {
	for pos := 0; pos < len(s); {
		i := indexBearer(s, pos)
		if i < 0 {
			break
		}
		after := i + len("bearer")
		start := skipSpaces(s, after)
		if start == after || start >= len(s) {
			pos = after
			continue
		}
		start = skipSchemes(s, start, []string{"bearer", "token"})
		end := wordEnd(s, start)
		if start < end && s[start:end] != Redacted {
			spans = append(spans, span{start, end, Redacted})
		}
		pos = after // the word may hold another "bearer"
	}
	return spans
}

// indexBearer finds "bearer" from pos, in lower, upper or title case. Searching the three
// forms beats a case-insensitive scan: b is rare, so each search is a fast IndexByte.
func indexBearer(s string, pos int) int {
	best := -1
	for _, form := range []string{"bearer", "Bearer", "BEARER"} {
		if i := strings.Index(s[pos:], form); i >= 0 && (best < 0 || pos+i < best) {
			best = pos + i
		}
	}
	return best
}
