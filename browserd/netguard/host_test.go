package netguard

import (
	"errors"
	"net/netip"
	"testing"
)

func TestParseHost(t *testing.T) {
	tests := []struct {
		in   string
		addr string // want an address
		name string // or a name
	}{
		// IPv4 as browsers read it
		{"127.0.0.1", "127.0.0.1", ""},
		{"127.1", "127.0.0.1", ""},
		{"127.0.1", "127.0.0.1", ""},
		{"0x7f000001", "127.0.0.1", ""},
		{"0X7F000001", "127.0.0.1", ""},
		{"2130706433", "127.0.0.1", ""},
		{"017700000001", "127.0.0.1", ""},
		{"0177.0.0.1", "127.0.0.1", ""},
		{"0177.1", "127.0.0.1", ""},
		{"0x7f.1", "127.0.0.1", ""},
		{"0x7f.0.0.0x1", "127.0.0.1", ""},
		{"0x7F.0X0.00.1", "127.0.0.1", ""},
		{"127.0.0.1.", "127.0.0.1", ""},
		{"127.1.", "127.0.0.1", ""},
		{"0x.0x.0x.0x1", "0.0.0.1", ""},
		{"0", "0.0.0.0", ""},
		{"0x", "0.0.0.0", ""},
		{"00", "0.0.0.0", ""},
		{"4294967295", "255.255.255.255", ""},
		{"0xffffffff", "255.255.255.255", ""},
		{"0x0000000000000000000000000000007f.1", "127.0.0.1", ""},
		{"10.0.0.5", "10.0.0.5", ""},
		{"169.254.43518", "169.254.169.254", ""},
		{"%31%32%37.0.0.1", "127.0.0.1", ""},
		{"１２７.０.０.１", "127.0.0.1", ""}, // fullwidth digits map to ASCII under IDNA
		{"127。0。0。1", "127.0.0.1", ""}, // ideographic full stops are dots
		// IPv6
		{"[::1]", "::1", ""},
		{"[0:0:0:0:0:0:0:1]", "::1", ""},
		{"[::ffff:127.0.0.1]", "::ffff:127.0.0.1", ""},
		{"[::ffff:7f00:1]", "::ffff:127.0.0.1", ""},
		{"[::127.0.0.1]", "::127.0.0.1", ""},
		{"[0000:0000:0000:0000:0000:ffff:7f00:0001]", "::ffff:127.0.0.1", ""},
		{"[FE80::1]", "fe80::1", ""},
		{"[fe80::1%25eth0]", "fe80::1%eth0", ""},
		{"[fe80::1%eth0]", "fe80::1%eth0", ""},
		{"[2002:7f00:1::]", "2002:7f00:1::", ""},
		// names
		{"example.com", "", "example.com"},
		{"EXAMPLE.com", "", "example.com"},
		{"example.com.", "", "example.com."},
		{"localhost", "", "localhost"},
		{"a_b.example", "", "a_b.example"},
		{"bücher.example", "", "xn--bcher-kva.example"},
		{"xn--bcher-kva.example", "", "xn--bcher-kva.example"},
		{"BÜCHER.example", "", "xn--bcher-kva.example"},
		{"faß.de", "", "xn--fa-hia.de"}, // nontransitional: ß is kept
		{"%65xample.com", "", "example.com"},
		{"1.2.3.4.example", "", "1.2.3.4.example"},
		{"0x7g.example", "", "0x7g.example"},
		{"r3---sn-abc.example", "", "r3---sn-abc.example"},
		{"a..b", "", "a..b"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			h, err := ParseHost(tt.in)
			if err != nil {
				t.Fatalf("ParseHost(%q): %v", tt.in, err)
			}
			if tt.addr != "" {
				if want := netip.MustParseAddr(tt.addr); h.Addr != want || h.Name != "" {
					t.Errorf("ParseHost(%q) = %+v, want address %v", tt.in, h, want)
				}
				return
			}
			if h.Name != tt.name || h.IsAddr() {
				t.Errorf("ParseHost(%q) = %+v, want name %q", tt.in, h, tt.name)
			}
		})
	}
}

func TestParseHostRefuses(t *testing.T) {
	for _, in := range []string{
		"",
		"1.2.3.256",
		"256.0.0.1",
		"1.2.65536",
		"4294967296",
		"0x100000000",
		"1.2.3.4.5",
		"08.0.0.1",      // 8 is no octal digit
		"0x7g.1",        // ends in a number-ish label that isn't one
		"foo.1",         // ends in a number: must then be IPv4
		"foo.0x1",       //
		"example.09",    //
		"1..1",          // empty part
		".1",            //
		"[::1",          // unclosed
		"::1",           // IPv6 needs brackets
		"[127.0.0.1]",   // IPv4 in brackets
		"[::1]x",        // junk after ]
		"a]b",           //
		"[:::1]",        //
		"[fe80::1%25]",  // empty zone
		"[fe80::1%]",    //
		"ex ample.com",  // forbidden code points
		"ex%20ample",    //
		"ex%2",          // bad percent-encoding
		"ex%zz",         //
		"a@b",           //
		"a:b",           //
		"a/b",           //
		"a\\b",          //
		"a<b",           //
		"a^b",           //
		"a|b",           //
		"a%00b",         //
		"a\x7fb",        //
		"xn--a.example", // bad punycode
		"%",             //
		"\u00ad",        // maps to nothing
	} {
		t.Run(in, func(t *testing.T) {
			h, err := ParseHost(in)
			if err == nil {
				t.Fatalf("ParseHost(%q) = %+v, want an error", in, h)
			}
			if !errors.Is(err, ErrHost) {
				t.Errorf("ParseHost(%q) error %v does not wrap ErrHost", in, err)
			}
		})
	}
}

func TestHostString(t *testing.T) {
	for in, want := range map[string]string{
		"127.1":              "127.0.0.1",
		"[::ffff:7f00:1]":    "[::ffff:127.0.0.1]",
		"[fe80::1%25eth0]":   "[fe80::1%eth0]",
		"Bücher.example":     "xn--bcher-kva.example",
		"0x7f000001.":        "127.0.0.1",
		"www.example.com.":   "www.example.com.",
		"%77ww.example.com.": "www.example.com.",
	} {
		h, err := ParseHost(in)
		if err != nil {
			t.Fatalf("ParseHost(%q): %v", in, err)
		}
		if got := h.String(); got != want {
			t.Errorf("ParseHost(%q).String() = %q, want %q", in, got, want)
		}
	}
}

// FuzzParseHost checks that the parser never panics, that what it returns is canonical (parsing
// its String again gives the same host), and that it agrees with netip on dotted quads.
func FuzzParseHost(f *testing.F) {
	for _, s := range []string{
		"127.0.0.1", "127.1", "0x7f000001", "2130706433", "0177.0.0.1", "0x7f.1", "127.0.0.1.",
		"[::1]", "[::ffff:127.0.0.1]", "[fe80::1%25eth0]", "example.com", "bücher.example",
		"xn--bcher-kva.example", "%31%32%37.1", "1.2.3.256", "0x", "4294967296", "a..b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHost(s)
		if err != nil {
			if h != (Host{}) {
				t.Fatalf("ParseHost(%q) returned %+v with error %v", s, h, err)
			}
			return
		}
		if h.IsAddr() == (h.Name != "") {
			t.Fatalf("ParseHost(%q) = %+v: want exactly one of Addr and Name", s, h)
		}
		again, err := ParseHost(h.String())
		if err != nil || again != h {
			t.Fatalf("ParseHost(%q) = %+v, but ParseHost(%q) = %+v, %v", s, h, h.String(), again, err)
		}
		if a, err := netip.ParseAddr(s); err == nil && a.Is4() && h.Addr != a {
			t.Fatalf("ParseHost(%q) = %+v, netip says %v", s, h, a)
		}
		Classify(h.Addr)
	})
}
