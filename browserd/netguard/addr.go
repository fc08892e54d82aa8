package netguard

import (
	"fmt"
	"net/netip"
)

// Kind names a special-purpose range an address belongs to. Kinds are bits, so a set of
// them (Policy.Allow, PrivateKinds) is a Kind too.
type Kind uint32

// The kinds Classify reports. Public is the zero value: no special range matched.
const (
	Public Kind = 0

	// Unspecified is 0.0.0.0 and ::. Linux connects to them as if to loopback.
	Unspecified Kind = 1 << iota
	// Loopback is 127.0.0.0/8, ::1 and the names localhost and *.localhost.
	Loopback
	// Private is RFC 1918 private-use space: 10/8, 172.16/12, 192.168/16.
	Private
	// Shared is carrier-grade NAT space, 100.64.0.0/10 (RFC 6598).
	Shared
	// LinkLocal is 169.254/16 (cloud metadata services live here) and fe80::/10.
	LinkLocal
	// UniqueLocal is IPv6 unique local space, fc00::/7 (RFC 4193).
	UniqueLocal
	// SiteLocal is deprecated IPv6 site-local space, fec0::/10 (RFC 3879).
	SiteLocal
	// LocalTranslation is local-use IPv4/IPv6 translation, 64:ff9b:1::/48 (RFC 8215).
	LocalTranslation
	// Multicast is 224/4 and ff00::/8.
	Multicast
	// Broadcast is 255.255.255.255.
	Broadcast
	// ThisNetwork is 0/8 except 0.0.0.0 (RFC 791).
	ThisNetwork
	// Documentation is TEST-NET-1/2/3, 2001:db8::/32 and 3fff::/20.
	Documentation
	// Benchmarking is 198.18/15 and 2001:2::/48.
	Benchmarking
	// ProtocolAssignment is IETF protocol space: 192.0.0/24 and 2001::/23 (Teredo aside).
	ProtocolAssignment
	// Discard is the IPv6 discard-only and dummy prefixes, 100::/64 and 100:0:0:1::/64.
	Discard
	// Reserved is everything else that is not routable unicast: 240/4, the deprecated 6to4
	// relay anycast 192.88.99/24, IPv4-compatible addresses, SRv6 SIDs, and IPv6 outside
	// 2000::/3.
	Reserved
)

// PrivateKinds are the kinds a session opens when it allows private targets: addresses that
// name this machine or its networks. Policy.Allow = PrivateKinds is "allow private targets";
// Policy.Allow = Loopback opens only this machine.
const PrivateKinds = Loopback | Private | Shared | LinkLocal | UniqueLocal | SiteLocal | LocalTranslation

// neverKinds can't be a browsing target whatever a policy allows.
const neverKinds = Unspecified | Multicast | Broadcast

var kindNames = []struct {
	k      Kind
	name   string
	phrase string // "an address of this kind", as the refusal says it
}{
	{Unspecified, "unspecified", "the unspecified address"},
	{Loopback, "loopback", "a loopback address"},
	{Private, "private", "a private address"},
	{Shared, "shared", "a shared (carrier-grade NAT) address"},
	{LinkLocal, "link-local", "a link-local address"},
	{UniqueLocal, "unique-local", "a unique local address"},
	{SiteLocal, "site-local", "a site-local address"},
	{LocalTranslation, "local-translation", "a local-use translation address"},
	{Multicast, "multicast", "a multicast address"},
	{Broadcast, "broadcast", "the broadcast address"},
	{ThisNetwork, "this-network", `a "this network" address`},
	{Documentation, "documentation", "a documentation address"},
	{Benchmarking, "benchmarking", "a benchmarking address"},
	{ProtocolAssignment, "protocol-assignment", "an IETF protocol assignment address"},
	{Discard, "discard", "a discard-only address"},
	{Reserved, "reserved", "a reserved address"},
}

// String names the kind, or the kinds of a set joined by "|": "loopback", "private|shared".
func (k Kind) String() string {
	if k == Public {
		return "public"
	}
	s := ""
	for _, n := range kindNames {
		if k&n.k != 0 {
			if s != "" {
				s += "|"
			}
			s += n.name
			k &^= n.k
		}
	}
	if k != 0 {
		if s != "" {
			s += "|"
		}
		s += fmt.Sprintf("kind(%#x)", uint32(k))
	}
	return s
}

func (k Kind) phrase() string {
	for _, n := range kindNames {
		if k == n.k {
			return n.phrase
		}
	}
	return "a " + k.String() + " address"
}

// Class is what Classify found out about an address.
type Class struct {
	// Kind is the special range; Public when none matched.
	Kind Kind
	// Prefix is the registered block that matched, such as 10.0.0.0/8; zero when Public
	// was found by elimination.
	Prefix netip.Prefix
	// RFC is the document that defines the block: "RFC 1918".
	RFC string
	// Via says how an IPv4 address was carried inside an IPv6 one ("IPv4-mapped", "6to4",
	// "Teredo", "NAT64"), when it was; Embedded is then that IPv4 address and Kind, Prefix
	// and RFC are its class.
	Via      string
	Embedded netip.Addr
}

// Special reports whether the address is in any special-purpose range.
func (c Class) Special() bool { return c.Kind != Public }

type block struct {
	prefix netip.Prefix
	kind   Kind
	rfc    string
}

func b(prefix string, kind Kind, rfc string) block {
	return block{netip.MustParsePrefix(prefix), kind, rfc}
}

// The IPv4 blocks come from the IANA IPv4 Special-Purpose Address Registry
// (https://www.iana.org/assignments/iana-ipv4-special-registry/, RFC 6890), plus multicast
// (https://www.iana.org/assignments/multicast-addresses/, RFC 5771) and 240/4. Blocks the
// registry marks globally reachable but that a browser never needs (192.0.0.9 and
// 192.0.0.10, the PCP and TURN anycast addresses) stay inside 192.0.0.0/24 and are refused;
// AS112 (192.31.196/24, 192.175.48/24) and AMT (192.52.193/24) are ordinary public space.
// Longer prefixes first: the first match wins.
var blocks4 = []block{
	b("0.0.0.0/32", Unspecified, "RFC 1122"),
	b("255.255.255.255/32", Broadcast, "RFC 919"),
	b("0.0.0.0/8", ThisNetwork, "RFC 791"),
	b("10.0.0.0/8", Private, "RFC 1918"),
	b("100.64.0.0/10", Shared, "RFC 6598"),
	b("127.0.0.0/8", Loopback, "RFC 1122"),
	b("169.254.0.0/16", LinkLocal, "RFC 3927"),
	b("172.16.0.0/12", Private, "RFC 1918"),
	b("192.0.0.0/24", ProtocolAssignment, "RFC 6890"),
	b("192.0.2.0/24", Documentation, "RFC 5737"),
	b("192.88.99.0/24", Reserved, "RFC 7526"),
	b("192.168.0.0/16", Private, "RFC 1918"),
	b("198.18.0.0/15", Benchmarking, "RFC 2544"),
	b("198.51.100.0/24", Documentation, "RFC 5737"),
	b("203.0.113.0/24", Documentation, "RFC 5737"),
	b("224.0.0.0/4", Multicast, "RFC 5771"),
	b("240.0.0.0/4", Reserved, "RFC 1112"),
}

// The IPv6 blocks come from the IANA IPv6 Special-Purpose Address Registry
// (https://www.iana.org/assignments/iana-ipv6-special-registry/) and the IPv6 Address Space
// registry (https://www.iana.org/assignments/ipv6-address-space/: fec0::/10, ff00::/8, and
// 2000::/3 as the only global unicast space). The blocks that carry an IPv4 address
// (::ffff:0:0/96, ::/96, 64:ff9b::/96, 2002::/16, 2001::/32) are handled in Classify, not here.
// Globally reachable sub-blocks of 2001::/23 (PCP and TURN anycast, AMT, AS112, ORCHIDv2,
// drone remote ID) are refused with the rest: a browser has no business there.
var blocks6 = []block{
	b("::/128", Unspecified, "RFC 4291"),
	b("::1/128", Loopback, "RFC 4291"),
	b("64:ff9b:1::/48", LocalTranslation, "RFC 8215"),
	b("100::/64", Discard, "RFC 6666"),
	b("100:0:0:1::/64", Discard, "RFC 9780"),
	b("2001:2::/48", Benchmarking, "RFC 5180"),
	b("2001::/23", ProtocolAssignment, "RFC 2928"),
	b("2001:db8::/32", Documentation, "RFC 3849"),
	b("3fff::/20", Documentation, "RFC 9637"),
	b("5f00::/16", Reserved, "RFC 9602"),
	b("fc00::/7", UniqueLocal, "RFC 4193"),
	b("fe80::/10", LinkLocal, "RFC 4291"),
	b("fec0::/10", SiteLocal, "RFC 3879"),
	b("ff00::/8", Multicast, "RFC 4291"),
}

var (
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
	mapped6        = netip.MustParsePrefix("::ffff:0:0/96")
	translated6    = netip.MustParsePrefix("::ffff:0:0:0/96") // SIIT, RFC 2765
	compatible6    = netip.MustParsePrefix("::/96")           // deprecated, RFC 4291 §2.5.5.1
	nat64WKP       = netip.MustParsePrefix("64:ff9b::/96")    // RFC 6052
	sixToFour      = netip.MustParsePrefix("2002::/16")       // RFC 3056
	teredo         = netip.MustParsePrefix("2001::/32")       // RFC 4380
)

// Classify says which special-purpose range an address is in. A zone is ignored. IPv6
// addresses that carry an IPv4 address (IPv4-mapped, IPv4-compatible, SIIT-translated,
// NAT64 64:ff9b::/96, 6to4 2002::/16, Teredo 2001::/32) are classified by that IPv4 address,
// so ::ffff:127.0.0.1 and 2002:7f00:1:: are loopback; a Teredo address is special when
// either its server or its client address is. An invalid (zero) Addr is Reserved.
func Classify(a netip.Addr) Class {
	if !a.IsValid() {
		return Class{Kind: Reserved, RFC: "not an address"}
	}
	a = a.WithZone("")
	if a.Is4() {
		return classify4(a)
	}
	switch {
	case mapped6.Contains(a):
		return embedded("IPv4-mapped", a.Unmap())
	case translated6.Contains(a):
		return embedded("IPv4-translated", v4At(a, 12))
	case a == netip.IPv6Unspecified() || a == netip.IPv6Loopback():
		// inside ::/96 but not IPv4-compatible addresses
	case compatible6.Contains(a):
		c := embedded("IPv4-compatible", v4At(a, 12))
		if !c.Special() {
			// Deprecated and unrouted: nothing legitimate resolves to one.
			return Class{Kind: Reserved, Prefix: compatible6, RFC: "RFC 4291"}
		}
		return c
	case nat64WKP.Contains(a):
		return embedded("NAT64", v4At(a, 12))
	case sixToFour.Contains(a):
		return embedded("6to4", v4At(a, 2))
	case teredo.Contains(a):
		server := embedded("Teredo", v4At(a, 4))
		if server.Special() {
			return server
		}
		// The client address is stored inverted (RFC 4380 §4).
		c := v4At(a, 12).As4()
		for i := range c {
			c[i] ^= 0xff
		}
		return embedded("Teredo", netip.AddrFrom4(c))
	}
	for _, bl := range index6[a.As16()[0]] {
		if bl.prefix.Contains(a) {
			return Class{Kind: bl.kind, Prefix: bl.prefix, RFC: bl.rfc}
		}
	}
	if !globalUnicast6.Contains(a) {
		return Class{Kind: Reserved, RFC: "IANA IPv6 address space"}
	}
	return Class{}
}

func classify4(a netip.Addr) Class {
	for _, bl := range index4[a.As4()[0]] {
		if bl.prefix.Contains(a) {
			return Class{Kind: bl.kind, Prefix: bl.prefix, RFC: bl.rfc}
		}
	}
	return Class{}
}

// index4 and index6 hold, for each first byte of an address, the blocks that can contain it,
// in table order, so that Classify looks at one or two blocks rather than all of them.
var index4, index6 = byFirstByte(blocks4), byFirstByte(blocks6)

func byFirstByte(blocks []block) (idx [256][]block) {
	for v := range 256 {
		for _, bl := range blocks {
			first := bl.prefix.Addr().AsSlice()[0]
			bits := min(bl.prefix.Bits(), 8)
			mask := byte(0xff << (8 - bits))
			if byte(v)&mask == first&mask {
				idx[v] = append(idx[v], bl)
			}
		}
	}
	return idx
}

func embedded(via string, v4 netip.Addr) Class {
	c := classify4(v4)
	c.Via, c.Embedded = via, v4
	return c
}

// v4At reads the IPv4 address stored at byte offset off of an IPv6 address.
func v4At(a netip.Addr, off int) netip.Addr {
	b := a.As16()
	return netip.AddrFrom4([4]byte(b[off : off+4]))
}
