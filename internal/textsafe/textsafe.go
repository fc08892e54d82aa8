// Package textsafe makes text from the outside world safe to print on a terminal and to keep
// as one line of a log: valid UTF-8, no control characters, no escape sequences.
package textsafe

import (
	"encoding/binary"
	"unicode"
	"unicode/utf8"
)

// Clean returns s made safe: invalid UTF-8 becomes U+FFFD; C0 and C1 control characters,
// DEL and whole escape sequences (CSI, OSC, DCS, SOS, PM, APC and short ESC sequences) are
// removed; invisible characters (bidi controls, zero-width and other format characters, line
// and paragraph separators) are removed; tabs and line breaks become spaces. Text that is
// already safe is returned as is, without allocating.
func Clean(s string) string {
	if isClean(s) {
		return s
	}
	return string(Append(make([]byte, 0, len(s)), []byte(s)))
}

// Append appends the safe form of src, as Clean describes it, to dst and returns the result.
func Append(dst, src []byte) []byte {
	for i := 0; i < len(src); {
		c := src[i]
		if printableASCII(c) {
			j := i + 1
			for j+8 <= len(src) && printable8(binary.LittleEndian.Uint64(src[j:])) {
				j += 8
			}
			for j < len(src) && printableASCII(src[j]) {
				j++
			}
			dst = append(dst, src[i:j]...)
			i = j
			continue
		}
		switch {
		case c == '\t' || c == '\n' || c == '\r':
			dst = append(dst, ' ')
			i++
		case c == esc:
			i = skipEscape(src, i+1)
		case c < utf8.RuneSelf: // other C0 controls and DEL
			i++
		default:
			r, size := utf8.DecodeRune(src[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				dst = append(dst, "\uFFFD"...)
			case r <= 0x9f: // C1 control
				i = skipC1(src, r, i+size)
				continue
			case invisible(r):
			default:
				dst = append(dst, src[i:i+size]...)
			}
			i += size
		}
	}
	return dst
}

const esc = 0x1b

func printableASCII(c byte) bool { return c >= 0x20 && c < 0x7f }

// printable8 reports whether all eight bytes of w are printable ASCII: none below 0x20 and
// none above 0x7e, tested on the whole word at once (the "has less" and "has more" tricks
// of Bit Twiddling Hacks, exact for whether any byte qualifies).
func printable8(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	below := (w - 0x20*ones) & ^w & highs
	above := ((w + ones) | w) & highs
	return below|above == 0
}

// isClean reports whether Append would copy s unchanged.
func isClean(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if printableASCII(c) {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			return false
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || r <= 0x9f || invisible(r) {
			return false
		}
		i += size
	}
	return true
}

// invisible reports the characters a terminal does not show but that change what it shows:
// every format character (Unicode category Cf: the "Trojan Source" bidi controls, zero-width
// spaces and joiners, the word joiner, the byte order mark, soft hyphens, tag characters), the
// line and paragraph separators, and the Hangul fillers, which draw as blanks. Any of them can
// make two different names look alike.
func invisible(r rune) bool {
	switch {
	// Two ranges without format characters hold most text (Latin, Greek, Cyrillic; symbols
	// and CJK): they skip the table lookup.
	case r < 0x600:
		return r == 0xad
	case r >= 0x2070 && r < 0xfeff:
		return r == 0x3164
	case r == 0x2028, r == 0x2029, r == 0x115f, r == 0x1160, r == 0xffa0:
		return true
	}
	return unicode.Is(unicode.Cf, r)
}

// skipEscape returns the index just after the escape sequence whose ESC precedes src[i].
// A malformed sequence ends before the first byte that cannot belong to it, so that byte is
// then handled on its own.
func skipEscape(src []byte, i int) int {
	if i >= len(src) {
		return i
	}
	switch src[i] {
	case '[':
		return skipCSI(src, i+1)
	case ']', 'P', 'X', '^', '_':
		return skipString(src, i+1)
	}
	// nF/Fp/Fe/Fs sequences: intermediates 0x20-0x2f, then one final byte 0x30-0x7e.
	for i < len(src) && src[i] >= 0x20 && src[i] <= 0x2f {
		i++
	}
	if i < len(src) && src[i] >= 0x30 && src[i] <= 0x7e {
		i++
	}
	return i
}

// skipCSI skips parameter and intermediate bytes (0x20-0x3f) and the final byte (0x40-0x7e).
func skipCSI(src []byte, i int) int {
	for ; i < len(src); i++ {
		c := src[i]
		if c >= 0x40 && c <= 0x7e {
			return i + 1
		}
		if c < 0x20 || c > 0x3f {
			return i
		}
	}
	return i
}

// skipString skips a control string (OSC, DCS, SOS, PM, APC) up to and including its
// terminator: BEL, ESC \ or the C1 ST. Another ESC ends it too and starts a sequence of its
// own. An unterminated string runs to the end, as a terminal would swallow it.
func skipString(src []byte, i int) int {
	for ; i < len(src); i++ {
		switch src[i] {
		case 0x07:
			return i + 1
		case esc:
			if i+1 < len(src) && src[i+1] == '\\' {
				return i + 2
			}
			return i
		case 0xc2: // U+009C (ST) in UTF-8
			if i+1 < len(src) && src[i+1] == 0x9c {
				return i + 2
			}
		}
	}
	return i
}

// skipC1 handles a C1 control r whose encoding ends before src[i]: the 8-bit forms of CSI
// and of the control-string introducers take their sequence with them.
func skipC1(src []byte, r rune, i int) int {
	switch r {
	case 0x9b:
		return skipCSI(src, i)
	case 0x90, 0x98, 0x9d, 0x9e, 0x9f:
		return skipString(src, i)
	}
	return i
}
