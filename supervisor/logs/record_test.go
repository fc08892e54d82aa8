package logs

import (
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParseRecord(t *testing.T) {
	at := time.Unix(0, 1763900000123456789)
	tests := []struct {
		name string
		in   string
		want Line
		ok   bool
	}{
		{"full", "1763900000123456789\t42\tstderr\twarn\tdisk almost full", Line{Seq: 42, Time: at, Stream: Stderr, Level: "warn", Text: "disk almost full"}, true},
		{"no level", "1763900000123456789\t1\tsupervisor\t\tstarted pid 42", Line{Seq: 1, Time: at, Stream: Supervisor, Text: "started pid 42"}, true},
		{"empty text", "1763900000123456789\t1\tstdout\t\t", Line{Seq: 1, Time: at, Stream: Stdout}, true},
		{"tab in text: records ran together", "1763900000123456789\t1\tstdout\t\ta\tb", Line{}, false},
		{"escape in text is cleaned", "1763900000123456789\t1\tstdout\t\t\x1b[31mred", Line{Seq: 1, Time: at, Stream: Stdout, Text: "red"}, true},
		// A record torn by a full disk or a kill, with the next one glued on: the next one
		// is read, the torn rest dropped.
		{"torn in the text", "1763900000123456789\t41\tstdout\t\tline 00211 xxx" + "1763900000123456790\t42\tstderr\twarn\tnext", Line{Seq: 42, Time: at.Add(1), Stream: Stderr, Level: "warn", Text: "next"}, true},
		{"torn in text ending in digits", "1763900000123456789\t41\tstdout\t\tcount 12" + "1763900000123456790\t42\tstdout\t\tnext", Line{Seq: 42, Time: at.Add(1), Stream: Stdout, Text: "next"}, true},
		{"torn in the time", "17639" + "1763900000123456789\t42\tstdout\t\tnext", Line{Seq: 42, Time: at, Stream: Stdout, Text: "next"}, true},
		{"torn after the seq", "1763900000123456789\t4" + "1763900000123456789\t42\tstdout\t\tnext", Line{Seq: 42, Time: at, Stream: Stdout, Text: "next"}, true},
		{"torn twice", "1763900000123456789\t40\tstd" + "1763900000123456789\t41\tstdout\t\tha" + "1763900000123456789\t42\tstdout\t\tnext", Line{Seq: 42, Time: at, Stream: Stdout, Text: "next"}, true},
		{"glued to garbage", "garbage\t\t\t" + "1763900000123456789\t42\tstdout\t\tnext", Line{Seq: 42, Time: at, Stream: Stdout, Text: "next"}, true},
		{"torn before a record of another age", "1763900000123456789\t41\tstdout\t\tx" + "5\t42\tstdout\t\tnext", Line{}, false},
		{"too few fields", "1763900000123456789\t1\tstdout", Line{}, false},
		{"negative time", "-5\t1\tstdout\t\tx", Line{}, false},
		{"time overflows int64", "9223372036854775808\t1\tstdout\t\tx", Line{}, false},
		{"seq overflows", "1\t18446744073709551616\tstdout\t\tx", Line{}, false},
		{"seq with sign", "1\t+1\tstdout\t\tx", Line{}, false},
		{"empty seq", "1\t\tstdout\t\tx", Line{}, false},
		{"unknown stream", "1\t1\tstdin\t\tx", Line{}, false},
		{"unknown level", "1\t1\tstdout\tloud\tx", Line{}, false},
		{"empty", "", Line{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseRecord([]byte(tt.in))
			if ok != tt.ok || !sameLine(got, tt.want) {
				t.Fatalf("parseRecord(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func sameLine(a, b Line) bool {
	return a.Seq == b.Seq && a.Time.Equal(b.Time) && a.Service == b.Service && a.Stream == b.Stream && a.Level == b.Level && a.Text == b.Text
}

func FuzzParseRecord(f *testing.F) {
	f.Add("1763900000123456789\t42\tstderr\twarn\tdisk almost full")
	f.Add("0\t0\tstdout\t\t")
	f.Add("1\t1\tsupervisor\terror\t\x1b]0;x\x07\xff")
	f.Add("18446744073709551615\t18446744073709551615\tstdout\t\tx")
	f.Add("1763900000123456789\t41\tstdout\t\tline 00211 xxx1763900000123456790\t42\tstdout\t\tnext")
	f.Fuzz(func(t *testing.T, in string) {
		l, ok := parseRecord([]byte(in))
		if !ok {
			return
		}
		if !utf8.ValidString(l.Text) || strings.ContainsAny(l.Text, "\t\n\r\x1b") {
			t.Fatalf("parseRecord(%q) text %q is not clean", in, l.Text)
		}
		rec := appendRecord(nil, l)
		again, ok := parseRecord(rec[:len(rec)-1])
		if !ok || !sameLine(again, l) {
			t.Fatalf("round trip of %q: %+v became %q then %+v, %v", in, l, rec, again, ok)
		}
	})
}

// appendRecord appends l as a record.
func appendRecord(dst []byte, l Line) []byte {
	var stamp [20]byte
	return appendRecordParts(dst, strconv.AppendInt(stamp[:0], l.Time.UnixNano(), 10), l.Seq, l.Stream, l.Level, []byte(l.Text))
}
