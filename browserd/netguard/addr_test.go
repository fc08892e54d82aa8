package netguard

import (
	"net/netip"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		addr string
		kind Kind
		via  string
	}{
		// IPv4, public
		{"8.8.8.8", Public, ""},
		{"1.1.1.1", Public, ""},
		{"100.63.255.255", Public, ""},
		{"100.128.0.0", Public, ""},
		{"172.15.255.255", Public, ""},
		{"172.32.0.0", Public, ""},
		{"192.0.1.255", Public, ""},
		{"192.31.196.1", Public, ""}, // AS112, globally reachable
		{"192.167.255.255", Public, ""},
		{"198.17.255.255", Public, ""},
		{"198.20.0.0", Public, ""},
		{"223.255.255.255", Public, ""},
		// IPv4, special
		{"0.0.0.0", Unspecified, ""},
		{"0.1.2.3", ThisNetwork, ""},
		{"0.255.255.255", ThisNetwork, ""},
		{"10.0.0.5", Private, ""},
		{"10.255.255.255", Private, ""},
		{"100.64.0.0", Shared, ""},
		{"100.127.255.255", Shared, ""},
		{"127.0.0.1", Loopback, ""},
		{"127.255.255.254", Loopback, ""},
		{"169.254.169.254", LinkLocal, ""},
		{"172.16.0.1", Private, ""},
		{"172.31.255.255", Private, ""},
		{"192.0.0.1", ProtocolAssignment, ""},
		{"192.0.0.9", ProtocolAssignment, ""},
		{"192.0.0.170", ProtocolAssignment, ""},
		{"192.0.2.1", Documentation, ""},
		{"192.88.99.1", Reserved, ""},
		{"192.168.1.1", Private, ""},
		{"198.18.0.1", Benchmarking, ""},
		{"198.19.255.255", Benchmarking, ""},
		{"198.51.100.7", Documentation, ""},
		{"203.0.113.9", Documentation, ""},
		{"224.0.0.1", Multicast, ""},
		{"239.255.255.250", Multicast, ""},
		{"240.0.0.1", Reserved, ""},
		{"255.255.255.254", Reserved, ""},
		{"255.255.255.255", Broadcast, ""},
		// IPv6, public
		{"2606:4700:4700::1111", Public, ""},
		{"2a00:1450:4001:81c::200e", Public, ""},
		{"3ffe::1", Public, ""},
		{"64:ff9b::808:808", Public, "NAT64"},
		{"2002:808:808::1", Public, "6to4"},
		// IPv6, special
		{"::", Unspecified, ""},
		{"::1", Loopback, ""},
		{"::2", ThisNetwork, "IPv4-compatible"},
		{"fe80::1", LinkLocal, ""},
		{"fe80::1%eth0", LinkLocal, ""},
		{"febf:ffff::1", LinkLocal, ""},
		{"fec0::1", SiteLocal, ""},
		{"feff::1", SiteLocal, ""},
		{"fc00::1", UniqueLocal, ""},
		{"fd12:3456:789a::1", UniqueLocal, ""},
		{"ff02::1", Multicast, ""},
		{"ff0e::1", Multicast, ""},
		{"2001:db8::1", Documentation, ""},
		{"3fff::1", Documentation, ""},
		{"2001:2::1", Benchmarking, ""},
		{"2001:10::1", ProtocolAssignment, ""},
		{"2001:1::1", ProtocolAssignment, ""},
		{"100::1", Discard, ""},
		{"100:0:0:1::1", Discard, ""},
		{"64:ff9b:1::1", LocalTranslation, ""},
		{"5f00::1", Reserved, ""},
		{"4000::1", Reserved, ""},
		{"fe00::1", Reserved, ""},
		{"1::1", Reserved, ""},
		// IPv6 carrying IPv4
		{"::ffff:127.0.0.1", Loopback, "IPv4-mapped"},
		{"::ffff:7f00:1", Loopback, "IPv4-mapped"},
		{"::ffff:10.1.2.3", Private, "IPv4-mapped"},
		{"::ffff:169.254.169.254", LinkLocal, "IPv4-mapped"},
		{"::ffff:8.8.8.8", Public, "IPv4-mapped"},
		{"::ffff:0.0.0.0", Unspecified, "IPv4-mapped"},
		{"::ffff:0:7f00:1", Loopback, "IPv4-translated"},
		{"::127.0.0.1", Loopback, "IPv4-compatible"},
		{"::10.0.0.1", Private, "IPv4-compatible"},
		{"::8.8.8.8", Reserved, ""},
		{"64:ff9b::7f00:1", Loopback, "NAT64"},
		{"64:ff9b::a9fe:a9fe", LinkLocal, "NAT64"},
		{"2002:7f00:1::", Loopback, "6to4"},
		{"2002:c0a8:101::1", Private, "6to4"},
		{"2002:a9fe:a9fe::1", LinkLocal, "6to4"},
		// Teredo: server 65.54.227.120, client 127.0.0.1 stored inverted (80ff:fffe).
		{"2001:0:4136:e378:8000:63bf:80ff:fffe", Loopback, "Teredo"},
		{"2001:0:a00:1::1", Private, "Teredo"},                            // server 10.0.0.1
		{"2001:0:4136:e378:8000:63bf:f7f7:f7f7", Public, "Teredo"},        // client 8.8.8.8
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", Documentation, "Teredo"}, // client 192.0.2.45
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			c := Classify(netip.MustParseAddr(tt.addr))
			if c.Kind != tt.kind || c.Via != tt.via {
				t.Errorf("Classify(%s) = %v via %q (%s, %v), want %v via %q", tt.addr, c.Kind, c.Via, c.RFC, c.Prefix, tt.kind, tt.via)
			}
			if c.Kind != Public && c.RFC == "" {
				t.Errorf("Classify(%s) names no RFC", tt.addr)
			}
		})
	}
}

func TestClassifyInvalid(t *testing.T) {
	if c := Classify(netip.Addr{}); c.Kind != Reserved {
		t.Errorf("Classify(zero Addr) = %v, want reserved", c.Kind)
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{
		Public:              "public",
		Loopback:            "loopback",
		Private | Shared:    "private|shared",
		PrivateKinds:        "loopback|private|shared|link-local|unique-local|site-local|local-translation",
		Kind(1 << 31):       "kind(0x80000000)",
		Reserved | 1<<31:    "reserved|kind(0x80000000)",
		Multicast | Discard: "multicast|discard",
	} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%#x).String() = %q, want %q", uint32(k), got, want)
		}
	}
}

func BenchmarkClassify(b *testing.B) {
	addrs := []netip.Addr{
		netip.MustParseAddr("93.184.215.14"),
		netip.MustParseAddr("10.0.0.5"),
		netip.MustParseAddr("2606:4700:4700::1111"),
		netip.MustParseAddr("::ffff:127.0.0.1"),
	}
	for _, a := range addrs {
		b.Run(a.String(), func(b *testing.B) {
			for b.Loop() {
				Classify(a)
			}
		})
	}
}
