package logview

import (
	"unicode"
	"unicode/utf8"
)

// indexFold returns the byte offset and byte length of the first case-insensitive occurrence
// of needle in s, or -1. It does not allocate.
func indexFold(s, needle string) (int, int) {
	if needle == "" {
		return -1, 0
	}
	if isASCII(needle) {
		return indexASCIIFold(s, needle), len(needle)
	}
	for i := 0; i < len(s); {
		if n := prefixFold(s[i:], needle); n > 0 {
			return i, n
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return -1, 0
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// indexASCIIFold is indexFold for an ASCII needle. Bytes of multi-byte runes in s are all
// >= 0x80, so they can never match an ASCII byte by accident.
func indexASCIIFold(s, needle string) int {
	first := lowerASCII(needle[0])
	for i := 0; i+len(needle) <= len(s); i++ {
		if lowerASCII(s[i]) != first {
			continue
		}
		j := 1
		for j < len(needle) && lowerASCII(s[i+j]) == lowerASCII(needle[j]) {
			j++
		}
		if j == len(needle) {
			return i
		}
	}
	return -1
}

// prefixFold returns how many bytes of s match needle case-insensitively, or 0.
func prefixFold(s, needle string) int {
	i := 0
	for _, want := range needle {
		if i >= len(s) {
			return 0
		}
		got, size := utf8.DecodeRuneInString(s[i:])
		if !equalFoldRune(got, want) {
			return 0
		}
		i += size
	}
	return i
}

func equalFoldRune(a, b rune) bool {
	if a == b {
		return true
	}
	for f := unicode.SimpleFold(a); f != a; f = unicode.SimpleFold(f) {
		if f == b {
			return true
		}
	}
	return false
}
