package textsafe

import (
	"encoding/binary"
	"testing"
)

// TestPrintable8 checks the word-at-a-time test against the byte one, for every byte value
// in every position among printable neighbours, and for pairs of unprintable ones.
func TestPrintable8(t *testing.T) {
	check := func(b []byte) {
		want := true
		for _, c := range b {
			want = want && printableASCII(c)
		}
		if got := printable8(binary.LittleEndian.Uint64(b)); got != want {
			t.Fatalf("printable8(% x) = %v, want %v", b, got, want)
		}
	}
	for pos := range 8 {
		for v := range 256 {
			b := []byte("abcdXYZ~")
			b[pos] = byte(v)
			check(b)
		}
	}
	for _, x := range []byte{0x00, 0x1f, 0x7f, 0x80, 0xff} {
		for _, y := range []byte{0x00, 0x1f, 0x20, 0x7e, 0x7f, 0xff} {
			for pos := range 7 {
				b := []byte("        ")
				b[pos], b[pos+1] = x, y
				check(b)
			}
		}
	}
}
