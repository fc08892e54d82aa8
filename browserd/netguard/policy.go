package netguard

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Policy says which targets a browser session may open. The zero Policy is the safe
// default: public addresses only.
type Policy struct {
	// Allow is the set of special kinds the session may open besides public addresses.
	// PrivateKinds is "allow private targets"; Loopback alone opens only this machine.
	// Unspecified, Multicast and Broadcast are never opened, whatever it says.
	Allow Kind
	// AllowPrefixes opens these blocks whatever their kind (again except the unspecified,
	// multicast and broadcast addresses): a lab's 10.20.0.0/16, or 198.18.0.0/15.
	AllowPrefixes []netip.Prefix
	// AllowHosts lets these names resolve to PrivateKinds addresses: "intranet.example"
	// matches that name, ".corp.example" any name below it. The addresses are still
	// checked against everything else, and still pinned.
	AllowHosts []string
}

// Rule names what refused a target; it is stable, for logs and metrics.
type Rule string

// The rules a RefusedError can carry.
const (
	RuleMalformed   Rule = "malformed"   // the URL or host can't be read
	RuleScheme      Rule = "scheme"      // not http, https or about:blank
	RuleCredentials Rule = "credentials" // user:password@ in the URL
	RuleRange       Rule = "range"       // the address is in a special range the policy doesn't open
	RuleNoAddress   Rule = "no-address"  // the name resolved to nothing
	RuleProxyLoop   Rule = "proxy-loop"  // the target is the guard's own proxy
)

// ErrRefused is matched by every *RefusedError: errors.Is(err, ErrRefused).
var ErrRefused = errors.New("refused")

// RefusedError says why a target was refused and, where there is one, what would open it.
type RefusedError struct {
	Rule Rule
	// Host is the host as the target named it; empty for a URL that could not be read.
	Host string
	// Addr is the refused address and Class its class, for RuleRange and RuleProxyLoop.
	Addr  netip.Addr
	Class Class
	// Detail says more for RuleMalformed, RuleScheme and RuleNoAddress.
	Detail string
}

func (e *RefusedError) Error() string {
	switch e.Rule {
	case RuleScheme:
		return "refused: " + e.Detail + "; only http, https and about:blank can be opened"
	case RuleCredentials:
		return "refused: the URL carries credentials (user:password@" + e.Host + "); remove them to open it"
	case RuleNoAddress:
		return "refused: " + e.Host + " has no address"
	case RuleProxyLoop:
		return "refused: " + e.Addr.String() + " is the target guard's own proxy"
	case RuleRange:
		return "refused: " + e.describeAddr() + "; " + e.hint()
	}
	return "refused: malformed target: " + e.Detail
}

// describeAddr: "10.0.0.5 is a private address (RFC 1918)", "intranet.example resolves to
// 10.0.0.5, a private address (RFC 1918)", "::ffff:127.0.0.1 (IPv4-mapped 127.0.0.1) is a
// loopback address (RFC 1122)".
func (e *RefusedError) describeAddr() string {
	c := e.Class
	what := c.Kind.phrase()
	if c.RFC != "" {
		what += " (" + c.RFC + ")"
	}
	addr := e.Addr.String()
	if c.Via != "" {
		addr += " (" + c.Via + " " + c.Embedded.String() + ")"
	}
	name := strings.TrimSuffix(e.Host, ".")
	if name != "" && name != e.Addr.String() && name != "["+e.Addr.String()+"]" {
		return name + " resolves to " + addr + ", " + what
	}
	return addr + " is " + what
}

func (e *RefusedError) hint() string {
	k := e.Class.Kind
	switch {
	case k&neverKinds != 0:
		return "it can't be a browsing target"
	case k&PrivateKinds != 0:
		return "allow private targets for this session to open it"
	case e.Class.Prefix.IsValid():
		return "add " + e.Class.Prefix.String() + " to the browser's allowed prefixes to open it"
	}
	return "add its block to the browser's allowed prefixes to open it"
}

// Is makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// CheckAddr says whether the policy opens this address: nil, or a *RefusedError with
// RuleRange. Use it for addresses a browser reports having connected to, such as CDP's
// Network.Response.remoteIPAddress.
func (p Policy) CheckAddr(a netip.Addr) error {
	return p.checkAddr("", a, false)
}

func (p Policy) checkAddr(host string, a netip.Addr, hostAllowed bool) error {
	c := Classify(a)
	if c.Kind == Public {
		return nil
	}
	if c.Kind&neverKinds == 0 {
		if p.Allow&c.Kind != 0 || hostAllowed && c.Kind&PrivateKinds != 0 {
			return nil
		}
		plain := a.WithZone("")
		for _, pre := range p.AllowPrefixes {
			if pre.Contains(plain) || c.Embedded.IsValid() && pre.Contains(c.Embedded) {
				return nil
			}
		}
	}
	return &RefusedError{Rule: RuleRange, Host: host, Addr: a, Class: c}
}

// hostAllowed reports whether name is in AllowHosts.
func (p Policy) hostAllowed(name string) bool {
	name = strings.TrimSuffix(name, ".")
	for _, h := range p.AllowHosts {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if strings.HasPrefix(h, ".") {
			if strings.HasSuffix(name, h) {
				return true
			}
		} else if name == h {
			return true
		}
	}
	return false
}

// isLocalhost reports whether name is localhost or below it: browsers answer those names with
// loopback themselves, without DNS (RFC 6761 §6.3).
func isLocalhost(name string) bool {
	name = strings.TrimSuffix(name, ".")
	return name == "localhost" || strings.HasSuffix(name, ".localhost")
}

var localhostAddrs = []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()}

// CheckHost checks what can be checked of a host before resolving it: an address literal
// against the ranges, localhost and *.localhost as loopback. A name that passes must still
// have every address it resolves to checked with CheckResolved (the Proxy does both).
func (p Policy) CheckHost(h Host) error {
	if h.IsAddr() {
		return p.checkAddr(h.String(), h.Addr, false)
	}
	if isLocalhost(h.Name) {
		return p.CheckResolved(h, localhostAddrs)
	}
	return nil
}

// CheckResolved checks every address a host resolved to; one refused address refuses the
// host, so a name can't smuggle a private address in beside a public one.
func (p Policy) CheckResolved(h Host, addrs []netip.Addr) error {
	if len(addrs) == 0 {
		return &RefusedError{Rule: RuleNoAddress, Host: h.String()}
	}
	allowed := !h.IsAddr() && p.hostAllowed(h.Name)
	for _, a := range addrs {
		if err := p.checkAddr(h.String(), a, allowed); err != nil {
			return err
		}
	}
	return nil
}

// Target is a URL a browser may open, as CheckURL read it.
type Target struct {
	// Scheme is "http", "https" or "about" (about:blank, which has no host).
	Scheme string
	Host   Host
	// Port is the URL's port or the scheme's default.
	Port uint16
}

// CheckURL checks a URL before a browser opens it or while the browser requests it (CDP
// Fetch.requestPaused): the scheme is http or https or the URL is about:blank; there are no
// credentials; the host reads as a browser reads it (ParseHost) and, when it is an address or
// localhost, the policy opens it. Names are not resolved here: the Proxy resolves each name
// once, checks the addresses and connects to exactly those. The URL is refused, never
// repaired, where a browser would repair it (tabs, newlines, backslashes, missing slashes),
// so what is checked is what the browser opens. The error is a *RefusedError.
func (p Policy) CheckURL(raw string) (Target, error) {
	t, err := ParseURL(raw)
	if err != nil {
		return Target{}, err
	}
	if t.Scheme == "about" {
		return t, nil
	}
	return t, p.CheckHost(t.Host)
}

// ParseURL reads a URL's scheme, host and port as CheckURL does, without a policy.
func ParseURL(raw string) (Target, error) {
	malformed := func(why string) (Target, error) {
		return Target{}, &RefusedError{Rule: RuleMalformed, Detail: why}
	}
	if raw == "about:blank" {
		return Target{Scheme: "about"}, nil
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= 0x20 || c == 0x7f || c == '\\' {
			return malformed(fmt.Sprintf("the URL contains %q", c))
		}
	}
	colon := strings.IndexByte(raw, ':')
	if colon <= 0 {
		return malformed("the URL has no scheme")
	}
	scheme := strings.ToLower(raw[:colon])
	var defPort uint16
	switch scheme {
	case "http":
		defPort = 80
	case "https":
		defPort = 443
	default:
		if !validScheme(scheme) {
			return malformed("the URL has no scheme")
		}
		return Target{}, &RefusedError{Rule: RuleScheme, Detail: "scheme " + strconv.Quote(scheme) + " is not allowed"}
	}
	rest, ok := strings.CutPrefix(raw[colon+1:], "//")
	if !ok {
		return malformed("no // after " + scheme + ":")
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	hostport := authority
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		hostport = authority[i+1:]
		return Target{}, &RefusedError{Rule: RuleCredentials, Host: hostport}
	}
	host, portStr := hostport, ""
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return malformed("unclosed [ in " + strconv.Quote(hostport))
		}
		host, portStr = hostport[:end+1], hostport[end+1:]
		if portStr != "" && portStr[0] != ':' {
			return malformed("junk after ] in " + strconv.Quote(hostport))
		}
		portStr = strings.TrimPrefix(portStr, ":")
	} else if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
		host, portStr = hostport[:i], hostport[i+1:]
	}
	port := defPort
	if portStr != "" {
		n, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil || strings.Trim(portStr, "0123456789") != "" {
			return malformed("bad port " + strconv.Quote(portStr))
		}
		port = uint16(n)
	}
	h, err := ParseHost(host)
	if err != nil {
		return Target{}, &RefusedError{Rule: RuleMalformed, Host: host, Detail: err.Error()}
	}
	return Target{Scheme: scheme, Host: h, Port: port}, nil
}

func validScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}
