// Package redact hides secrets in text before it is stored: log lines, call inputs, approval
// texts and audit details.
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
//   - the word after "bearer", in any case, after spaces, tabs or an escaped tab or line
//     break (\t, \n, \r, as JSON and quoted logfmt write them);
//   - the word after "token", in any case and after the same gaps, when it looks like a
//     credential rather than prose: see credential;
//   - Palyra's own tokens wherever they stand, even inside a word: the admin token
//     (pa_<redacted>) and a scoped token's secret part (pt_<id>_<redacted>);
//   - the userinfo of a URL, which is removed: https://user:pass@host becomes https://host.
//
// s itself is returned, without allocating, when nothing is redacted.
func Line(s string) string { return LineWith(s, AnyClue) }

// Clues says which of the bytes the redaction passes start from a text may hold. A caller
// that has looked at a larger text at once, such as a whole read of a child's output, can
// tell Line which passes to skip; a clue it is unsure of must stay set.
type Clues uint8

// The clues, each a set of bytes: a pass runs only where its bytes occur.
const (
	ClueSeparator  Clues = 1 << iota // '=' or ':': key=value and key: value
	ClueBearer                       // 'b' or 'B': "Bearer" schemes
	ClueToken                        // 'k' or 'K': "token" schemes
	ClueUnderscore                   // '_': Palyra's own tokens
	AnyClue        = ClueSeparator | ClueBearer | ClueToken | ClueUnderscore
)

// LineWith is Line for a text that may hold only the clues given.
func LineWith(s string, clues Clues) string {
	// The passes look at the same text, so none hides another's clue: in
	// "password=Xbearer abc" the value pass takes Xbearer and the scheme pass abc.
	var spans []span
	if clues&ClueSeparator != 0 && (strings.IndexByte(s, '=') >= 0 || strings.IndexByte(s, ':') >= 0) {
		spans = valueSpans(s, spans)
	}
	if clues&(ClueBearer|ClueToken) != 0 {
		spans = schemeSpans(s, spans, clues)
	}
	if clues&ClueUnderscore != 0 && strings.IndexByte(s, '_') >= 0 {
		spans = palyraTokenSpans(s, spans)
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

// Text is Line for text of many lines, such as an approval's details: each line is redacted
// on its own. s itself is returned, without allocating, when nothing is redacted.
func Text(s string) string {
	var b []byte
	done := 0 // s[:done] is in b, or needs no copy while b is nil
	for start := 0; start <= len(s); {
		end := nextByte(s, start, '\n')
		if end < 0 {
			end = len(s)
		}
		if line := Line(s[start:end]); len(line) != end-start || line != s[start:end] {
			if b == nil {
				b = make([]byte, 0, len(s)+len(Redacted))
			}
			b = append(b, s[done:start]...)
			b = append(b, line...)
			done = end
		}
		start = end + 1
	}
	if b == nil {
		return s
	}
	return string(append(b, s[done:]...))
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
	if pos >= len(s) {
		return -1
	}
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

func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

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

// skipSchemes moves i past any words of names (in any case) each followed by a gap, as long
// as something follows them: "Bearer Bearer abc" leaves "abc".
func skipSchemes(s string, i int, names []string) int {
	for {
		end := i
		for end < len(s) && isLetter(s[end]) {
			end++
		}
		next := skipGap(s, end)
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

// schemeSpans appends the word after each "bearer" (past a "token" following it) and the
// credential after each "token".
func schemeSpans(s string, spans []span, clues Clues) []span {
	bearer := newCaseless(s, "bearer", 0, clues&ClueBearer != 0)
	for pos := 0; ; {
		i := bearer.next(pos)
		if i < 0 {
			break
		}
		pos = i + len("bearer") // the word may hold another "bearer"
		start := skipGap(s, pos)
		if start == pos || start >= len(s) {
			continue
		}
		start = skipSchemes(s, start, []string{"bearer", "token"})
		if end := credentialEnd(s, start); start < end && s[start:end] != Redacted {
			spans = append(spans, span{start, end, Redacted})
		}
	}
	token := newCaseless(s, "token", 2, clues&ClueToken != 0) // k is the rarest letter of "token"
	for pos := 0; ; {
		i := token.next(pos)
		if i < 0 {
			break
		}
		pos = i + len("token")
		start := skipGap(s, pos)
		if start == pos {
			continue
		}
		if end := credentialRun(s, start); credential(s[start:end]) {
			spans = append(spans, span{start, end, Redacted})
		}
	}
	return spans
}

// skipGap moves i past spaces, tabs and escaped tabs and line breaks ("\t", "\\n").
func skipGap(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t':
			i++
			continue
		case '\\':
			j := i
			for j < len(s) && s[j] == '\\' {
				j++
			}
			if j < len(s) && (s[j] == 't' || s[j] == 'n' || s[j] == 'r') {
				i = j + 1
				continue
			}
		}
		return i
	}
	return i
}

// credentialEnd returns the end of the credential starting at i: a word that ends, unlike
// an ordinary value, at a backslash too, so an escaped quote after it stays whole.
func credentialEnd(s string, i int) int {
	for i < len(s) && !endsWord(s[i]) && s[i] != '\\' {
		i++
	}
	return i
}

// credentialRun returns the end of the run of bytes from i in the alphabets tokens are
// written in: base64, base64url, hex, JWT.
func credentialRun(s string, i int) int {
	for i < len(s) && (isAlnum(s[i]) || strings.IndexByte("-_.~+/=", s[i]) >= 0) {
		i++
	}
	return i
}

// credential reports whether w, a run of credentialRun, is a credential rather than prose
// ("token expired") or a path: at least 8 bytes, starting with none of / . ~, holding a digit
// and a letter, or at least 16 bytes mixing upper and lower case.
func credential(w string) bool {
	if len(w) < 8 || w[0] == '/' || w[0] == '.' || w[0] == '~' {
		return false
	}
	var digit, lowerCase, upperCase bool
	for i := range len(w) {
		c := w[i]
		digit = digit || (c >= '0' && c <= '9')
		lowerCase = lowerCase || (c >= 'a' && c <= 'z')
		upperCase = upperCase || (c >= 'A' && c <= 'Z')
	}
	return (digit && (lowerCase || upperCase)) || (len(w) >= 16 && lowerCase && upperCase)
}

// caseless finds a lower-case ASCII word in s in any case. It looks for the word's letter at
// index at in both cases, remembering where each occurs next, so s is scanned once.
type caseless struct {
	s, word string
	at      int
	lo, up  int // the next index of the letter in lower and in upper case; -1 when none is left
}

// newCaseless searches s for word, by the letter at index at. When maybe is false, the
// caller knows s lacks that letter, and nothing is searched.
func newCaseless(s, word string, at int, maybe bool) caseless {
	if !maybe {
		return caseless{s: s, word: word, at: at, lo: -1, up: -1}
	}
	c := word[at]
	return caseless{s: s, word: word, at: at, lo: nextByte(s, at, c), up: nextByte(s, at, c-'a'+'A')}
}

// next returns the index of the first match at or after pos, or -1.
func (c *caseless) next(pos int) int {
	for {
		from := pos + c.at
		if c.lo >= 0 && c.lo < from {
			c.lo = nextByte(c.s, from, c.word[c.at])
		}
		if c.up >= 0 && c.up < from {
			c.up = nextByte(c.s, from, c.word[c.at]-'a'+'A')
		}
		i := c.lo
		if i < 0 || (c.up >= 0 && c.up < i) {
			i = c.up
		}
		if i < 0 {
			return -1
		}
		start := i - c.at
		if start+len(c.word) <= len(c.s) && foldEqual(c.s[start:start+len(c.word)], c.word) {
			return start
		}
		pos = start + 1
	}
}

// foldEqual reports whether s is the lower-case ASCII word w in any case. Unlike
// strings.EqualFold it matches ASCII only, so the Kelvin sign does not make a "token".
func foldEqual(s, w string) bool {
	for i := range len(w) {
		if lower(s[i]) != w[i] {
			return false
		}
	}
	return true
}

// The parts of Palyra's tokens (daemon/access): "pa_" and 32 random bytes in base64url for
// the admin token; "pt_", a 12-hex-digit id, "_" and 32 random bytes for a scoped one.
const (
	tokenKeyLen = 43
	tokenIDLen  = 12
)

// palyraTokenSpans appends the secret part of every Palyra token in s. The prefix and a
// scoped token's id stay: they say which token leaked, not what it is.
func palyraTokenSpans(s string, spans []span) []span {
	for i := nextByte(s, 0, '_'); i >= 0; i = nextByte(s, i+1, '_') {
		if i < 2 || s[i-2] != 'p' {
			continue
		}
		key := -1
		switch s[i-1] {
		case 'a':
			key = i + 1
		case 't':
			id := i + 1
			if hexRun(s, id) >= tokenIDLen && id+tokenIDLen < len(s) && s[id+tokenIDLen] == '_' {
				key = id + tokenIDLen + 1
			}
		}
		if key < 0 {
			continue
		}
		if n := base64URLRun(s, key); n >= tokenKeyLen {
			spans = append(spans, span{key, key + n, Redacted})
			i = key + n - 1 // nothing inside the key is a token of its own
		}
	}
	return spans
}

func hexRun(s string, i int) int {
	n := 0
	for i+n < len(s) && ((s[i+n] >= '0' && s[i+n] <= '9') || (s[i+n] >= 'a' && s[i+n] <= 'f')) {
		n++
	}
	return n
}

func base64URLRun(s string, i int) int {
	n := 0
	for i+n < len(s) && (isAlnum(s[i+n]) || s[i+n] == '-' || s[i+n] == '_') {
		n++
	}
	return n
}
