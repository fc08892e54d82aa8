package netguard

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Host is a URL host as a browser understands it: an IP address or a domain name.
type Host struct {
	// Addr is set when the host is an IP address, however it was spelled: "127.1",
	// "0x7f000001" and "[::ffff:7f00:1]" all give a valid Addr. IPv4-mapped IPv6 addresses
	// are kept as written; Classify sees through them.
	Addr netip.Addr
	// Name is the domain in ASCII (punycode for IDNs), lower case, as the browser would send
	// it to DNS, trailing dot kept; empty when Addr is set.
	Name string
}

// IsAddr reports whether the host is an IP address literal.
func (h Host) IsAddr() bool { return h.Addr.IsValid() }

// String gives the host as it would appear in a URL: "127.0.0.1", "[::1]", "example.com".
func (h Host) String() string {
	if h.Addr.IsValid() {
		if h.Addr.Is6() {
			return "[" + h.Addr.String() + "]"
		}
		return h.Addr.String()
	}
	return h.Name
}

// ErrHost is wrapped by every ParseHost error.
var ErrHost = errors.New("invalid host")

// profile is the WHATWG URL Standard's "domain to ASCII" with beStrict false: UTS #46
// nontransitional processing, CheckBidi and CheckJoiners on, CheckHyphens and
// UseSTD3ASCIIRules off, no DNS length check.
var profile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.Transitional(false),
	idna.StrictDomainName(false),
	idna.CheckHyphens(false),
	idna.VerifyDNSLength(false),
)

// ParseHost parses a URL host (without port) the way the WHATWG URL Standard's host parser
// does for http and https, so it agrees with Chromium about which address a URL names:
//   - "[...]" is an IPv6 address; a zone ("%25eth0" as URLs spell it, or "%eth0") is kept
//     though browsers refuse it;
//   - otherwise the host is percent-decoded, mapped to ASCII by IDNA (UTS #46), and checked
//     for forbidden code points;
//   - if its last label is a number, it must be an IPv4 address, and IPv4 is read as browsers
//     read it: one to four parts, each decimal, octal (leading 0) or hex (0x), the last part
//     filling the remaining bytes, a trailing dot allowed. So "127.1", "0x7f.1",
//     "0177.0.0.1", "2130706433" and "0x7f000001." are all 127.0.0.1, and "1.2.3.256" or
//     "foo.1" is an error, as in a browser.
func ParseHost(s string) (Host, error) {
	if s == "" {
		return Host{}, fmt.Errorf("%w: empty", ErrHost)
	}
	if s[0] == '[' {
		if s[len(s)-1] != ']' {
			return Host{}, fmt.Errorf("%w: %q: unclosed [", ErrHost, s)
		}
		return parseIPv6(s[1 : len(s)-1])
	}
	if strings.IndexByte(s, ']') >= 0 {
		return Host{}, fmt.Errorf("%w: %q: stray ]", ErrHost, s)
	}
	decoded, err := percentDecode(s)
	if err != nil {
		return Host{}, fmt.Errorf("%w: %q: %v", ErrHost, s, err)
	}
	if !utf8.ValidString(decoded) {
		// WHATWG decodes bad UTF-8 to U+FFFD, which IDNA then refuses.
		return Host{}, fmt.Errorf("%w: %q: not UTF-8", ErrHost, s)
	}
	ascii := decoded
	if !isLowerASCIIName(decoded) {
		ascii, err = profile.ToASCII(decoded)
		if err != nil {
			return Host{}, fmt.Errorf("%w: %q: %v", ErrHost, s, err)
		}
	}
	if ascii == "" {
		return Host{}, fmt.Errorf("%w: %q: empty after IDNA mapping", ErrHost, s)
	}
	for i := 0; i < len(ascii); i++ {
		if forbiddenDomain(ascii[i]) {
			return Host{}, fmt.Errorf("%w: %q: forbidden character %q", ErrHost, s, ascii[i])
		}
	}
	if endsInNumber(ascii) {
		a, err := parseIPv4(ascii)
		if err != nil {
			return Host{}, fmt.Errorf("%w: %q: %v", ErrHost, s, err)
		}
		return Host{Addr: a}, nil
	}
	return Host{Name: ascii}, nil
}

// isLowerASCIIName is the fast path: a name IDNA would leave as it is.
func isLowerASCIIName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	// Labels starting "xn--" must still be checked as punycode.
	return !strings.HasPrefix(s, "xn--") && !strings.Contains(s, ".xn--")
}

func parseIPv6(s string) (Host, error) {
	addr, zone := s, ""
	if i := strings.IndexByte(s, '%'); i >= 0 {
		addr, zone = s[:i], s[i+1:]
		// In a URL the % of a zone is itself percent-encoded (RFC 6874).
		// "%eth0" is accepted too, so a zone can't start with "25".
		zone = strings.TrimPrefix(zone, "25")
		if zone == "" {
			return Host{}, fmt.Errorf("%w: [%s]: empty zone", ErrHost, s)
		}
		var err error
		if zone, err = percentDecode(zone); err != nil {
			return Host{}, fmt.Errorf("%w: [%s]: %v", ErrHost, s, err)
		}
	}
	if strings.IndexByte(addr, ':') < 0 {
		return Host{}, fmt.Errorf("%w: [%s]: not an IPv6 address", ErrHost, s)
	}
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is6() || a.Zone() != "" {
		return Host{}, fmt.Errorf("%w: [%s]: not an IPv6 address", ErrHost, s)
	}
	if zone != "" {
		a = a.WithZone(zone)
	}
	return Host{Addr: a}, nil
}

func percentDecode(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 {
		return s, nil
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			out = append(out, s[i])
			continue
		}
		if i+2 >= len(s) || unhex(s[i+1]) < 0 || unhex(s[i+2]) < 0 {
			// WHATWG keeps a lone % as it is; it is then a forbidden code point.
			return "", errors.New("bad percent-encoding")
		}
		out = append(out, byte(unhex(s[i+1])<<4|unhex(s[i+2])))
		i += 2
	}
	return string(out), nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// forbiddenDomain is the WHATWG forbidden domain code point set, restricted to ASCII (IDNA
// output is ASCII), plus everything above ASCII.
func forbiddenDomain(c byte) bool { return forbidden[c] }

var forbidden = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c <= 0x20 || c >= 0x7f || strings.IndexByte("#%/:<>?@[\\]^|", byte(c)) >= 0
	}
	return t
}()

// endsInNumber is the WHATWG "ends in a number checker".
func endsInNumber(s string) bool {
	last := s
	if strings.HasSuffix(last, ".") {
		if len(last) == 1 {
			return false
		}
		last = last[:len(last)-1]
	}
	if i := strings.LastIndexByte(last, '.'); i >= 0 {
		last = last[i+1:]
	}
	if last != "" && allDigits(last) {
		return true
	}
	_, ok := parseIPv4Number(last)
	return ok
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseIPv4 is the WHATWG IPv4 parser.
func parseIPv4(s string) (netip.Addr, error) {
	parts := strings.Split(s, ".")
	if parts[len(parts)-1] == "" && len(parts) > 1 {
		parts = parts[:len(parts)-1]
	}
	if len(parts) > 4 {
		return netip.Addr{}, errors.New("more than four IPv4 parts")
	}
	var nums [4]uint64
	for i, p := range parts {
		n, ok := parseIPv4Number(p)
		if !ok {
			return netip.Addr{}, fmt.Errorf("IPv4 part %q is not a number", p)
		}
		nums[i] = n
	}
	last := len(parts) - 1
	for _, n := range nums[:last] {
		if n > 255 {
			return netip.Addr{}, errors.New("IPv4 part out of range")
		}
	}
	if nums[last] >= 1<<(8*(4-last)) {
		return netip.Addr{}, errors.New("IPv4 address out of range")
	}
	v := nums[last]
	for i, n := range nums[:last] {
		v += n << (8 * (3 - i))
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), nil
}

// parseIPv4Number is the WHATWG IPv4 number parser. Values above 2^32 are reported as 2^32,
// which every caller refuses, so no input can overflow.
func parseIPv4Number(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	radix := uint64(10)
	if len(s) >= 2 && (s[:2] == "0x" || s[:2] == "0X") {
		s, radix = s[2:], 16
	} else if len(s) >= 2 && s[0] == '0' {
		s, radix = s[1:], 8
	}
	if s == "" {
		return 0, true
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		d := unhex(s[i])
		if d < 0 || uint64(d) >= radix {
			return 0, false
		}
		if v <= 1<<32 {
			v = v*radix + uint64(d)
		}
	}
	return min(v, 1<<32), true
}
