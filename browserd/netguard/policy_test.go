package netguard

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func TestCheckURL(t *testing.T) {
	loopback := Policy{Allow: Loopback}
	private := Policy{Allow: PrivateKinds}
	tests := []struct {
		name   string
		policy Policy
		url    string
		rule   Rule   // "" = allowed
		msg    string // a part of the error text
	}{
		{"public https", Policy{}, "https://example.com/a?b#c", "", ""},
		{"public http with port", Policy{}, "http://example.com:8080/", "", ""},
		{"public IPv4", Policy{}, "http://93.184.215.14/", "", ""},
		{"public IPv6", Policy{}, "https://[2606:4700:4700::1111]:443/", "", ""},
		{"upper-case scheme", Policy{}, "HTTPS://example.com/", "", ""},
		{"about:blank", Policy{}, "about:blank", "", ""},
		{"name not resolved here", Policy{}, "http://intranet.example/", "", ""},

		{"private", Policy{}, "http://10.0.0.5/", RuleRange,
			"refused: 10.0.0.5 is a private address (RFC 1918); allow private targets for this session to open it"},
		{"loopback", Policy{}, "http://127.0.0.1:8080/", RuleRange, "127.0.0.1 is a loopback address (RFC 1122)"},
		{"loopback short", Policy{}, "http://127.1/", RuleRange, "127.0.0.1 is a loopback address"},
		{"loopback hex", Policy{}, "http://0x7f000001/", RuleRange, "127.0.0.1 is a loopback"},
		{"loopback decimal", Policy{}, "http://2130706433/", RuleRange, "127.0.0.1 is a loopback"},
		{"loopback octal", Policy{}, "http://0177.0.0.1/", RuleRange, "127.0.0.1 is a loopback"},
		{"loopback mixed", Policy{}, "http://0x7f.1/", RuleRange, "127.0.0.1 is a loopback"},
		{"loopback trailing dot", Policy{}, "http://127.0.0.1./", RuleRange, "loopback"},
		{"loopback percent-encoded", Policy{}, "http://%31%32%37.0.0.1/", RuleRange, "loopback"},
		{"loopback mapped", Policy{}, "http://[::ffff:127.0.0.1]/", RuleRange,
			"::ffff:127.0.0.1 (IPv4-mapped 127.0.0.1) is a loopback address (RFC 1122)"},
		{"loopback v6", Policy{}, "http://[::1]:9222/json", RuleRange, "::1 is a loopback address (RFC 4291)"},
		{"localhost", Policy{}, "http://localhost:9222/", RuleRange, "localhost resolves to 127.0.0.1, a loopback address"},
		{"sub.localhost", Policy{}, "http://a.b.LOCALHOST./", RuleRange, "a.b.localhost resolves to 127.0.0.1"},
		{"metadata", Policy{}, "http://169.254.169.254/latest/meta-data/", RuleRange, "169.254.169.254 is a link-local address (RFC 3927)"},
		{"metadata short", Policy{}, "http://169.254.43518/", RuleRange, "link-local"},
		{"link-local zone", Policy{}, "http://[fe80::1%25eth0]/", RuleRange, "fe80::1%eth0 is a link-local address"},
		{"cgnat", Policy{}, "http://100.64.1.1/", RuleRange, "100.64.1.1 is a shared (carrier-grade NAT) address (RFC 6598)"},
		{"ula", Policy{}, "http://[fd00::1]/", RuleRange, "unique local address (RFC 4193)"},
		{"6to4 loopback", Policy{}, "http://[2002:7f00:1::]/", RuleRange, "(6to4 127.0.0.1) is a loopback"},
		{"nat64 private", Policy{}, "http://[64:ff9b::a00:5]/", RuleRange, "(NAT64 10.0.0.5) is a private"},
		{"unspecified", Policy{}, "http://0.0.0.0:8080/", RuleRange, "0.0.0.0 is the unspecified address (RFC 1122); it can't be a browsing target"},
		{"zero", Policy{}, "http://0/", RuleRange, "unspecified"},
		{"multicast", Policy{}, "http://224.0.0.1/", RuleRange, "multicast address (RFC 5771); it can't be a browsing target"},
		{"broadcast", Policy{}, "http://255.255.255.255/", RuleRange, "broadcast"},
		{"documentation", Policy{}, "http://192.0.2.1/", RuleRange,
			"192.0.2.1 is a documentation address (RFC 5737); add 192.0.2.0/24 to the browser's allowed prefixes to open it"},
		{"benchmarking", Policy{}, "http://198.18.0.1/", RuleRange, "benchmarking"},
		{"reserved", Policy{}, "http://240.0.0.1/", RuleRange, "reserved"},

		{"loopback allowed", loopback, "http://127.0.0.1:8080/", "", ""},
		{"loopback allowed odd", loopback, "http://0x7f.1/", "", ""},
		{"localhost allowed", loopback, "http://localhost/", "", ""},
		{"mapped loopback allowed", loopback, "http://[::ffff:127.0.0.1]/", "", ""},
		{"loopback is not private", loopback, "http://10.0.0.5/", RuleRange, "private"},
		{"private allowed", private, "http://10.0.0.5/", "", ""},
		{"metadata with private allowed", private, "http://169.254.169.254/", "", ""},
		{"unspecified never", Policy{Allow: ^Kind(0)}, "http://0.0.0.0/", RuleRange, "can't be a browsing target"},
		{"multicast never", Policy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("224.0.0.0/4")}}, "http://224.0.0.1/", RuleRange, "multicast"},
		{"prefix allowed", Policy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}}, "http://10.20.3.4/", "", ""},
		{"prefix allowed mapped", Policy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}}, "http://[::ffff:10.20.3.4]/", "", ""},
		{"prefix elsewhere", Policy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}}, "http://10.21.0.1/", RuleRange, "private"},

		{"file", Policy{}, "file:///etc/passwd", RuleScheme, `refused: scheme "file" is not allowed; only http, https and about:blank can be opened`},
		{"javascript", Policy{}, "javascript:alert(1)", RuleScheme, "javascript"},
		{"data", Policy{}, "data:text/html,hi", RuleScheme, "data"},
		{"chrome", Policy{}, "chrome://settings", RuleScheme, "chrome"},
		{"view-source", Policy{}, "view-source:http://127.0.0.1/", RuleScheme, "view-source"},
		{"ftp", Policy{}, "ftp://example.com/", RuleScheme, "ftp"},
		{"ws", Policy{}, "ws://example.com/", RuleScheme, "ws"},
		{"about other", Policy{}, "about:config", RuleScheme, "about"},
		{"credentials", Policy{}, "http://user:pass@example.com/", RuleCredentials,
			"refused: the URL carries credentials (user:password@example.com); remove them to open it"},
		{"user only", Policy{}, "https://user@example.com/", RuleCredentials, "credentials"},
		{"empty userinfo", Policy{}, "https://@example.com/", RuleCredentials, "credentials"},
		{"userinfo trick", Policy{}, "http://example.com@127.0.0.1/", RuleCredentials, "credentials"},
		{"backslash trick", Policy{}, "http://example.com\\@127.0.0.1/", RuleMalformed, `contains '\\'`},
		{"tab", Policy{}, "http://exa\tmple.com/", RuleMalformed, "contains"},
		{"newline", Policy{}, "http://127.0.0.1\n/", RuleMalformed, "contains"},
		{"leading space", Policy{}, " http://example.com/", RuleMalformed, "contains"},
		{"no slashes", Policy{}, "http:example.com", RuleMalformed, "no //"},
		{"one slash", Policy{}, "http:/example.com", RuleMalformed, "no //"},
		{"no scheme", Policy{}, "//example.com/", RuleMalformed, "no scheme"},
		{"relative", Policy{}, "example.com", RuleMalformed, "no scheme"},
		{"empty host", Policy{}, "http:///", RuleMalformed, "empty"},
		{"bad port", Policy{}, "http://example.com:99999/", RuleMalformed, "bad port"},
		{"signed port", Policy{}, "http://example.com:+80/", RuleMalformed, "bad port"},
		{"bad ipv4", Policy{}, "http://1.2.3.256/", RuleMalformed, "invalid host"},
		{"unclosed bracket", Policy{}, "http://[::1/", RuleMalformed, "unclosed"},
		{"junk after bracket", Policy{}, "http://[::1]x/", RuleMalformed, "junk"},
		{"empty", Policy{}, "", RuleMalformed, "no scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.policy.CheckURL(tt.url)
			if tt.rule == "" {
				if err != nil {
					t.Fatalf("CheckURL(%q): %v", tt.url, err)
				}
				return
			}
			var re *RefusedError
			if !errors.As(err, &re) || !errors.Is(err, ErrRefused) {
				t.Fatalf("CheckURL(%q) = %v, want a *RefusedError", tt.url, err)
			}
			if re.Rule != tt.rule || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("CheckURL(%q) = %v (rule %s), want rule %s saying %q", tt.url, err, re.Rule, tt.rule, tt.msg)
			}
		})
	}
}

func TestParseURLTarget(t *testing.T) {
	for raw, want := range map[string]string{
		"http://example.com":        "http example.com 80",
		"https://example.com":       "https example.com 443",
		"https://example.com:/":     "https example.com 443",
		"https://[::1]:8443/x":      "https [::1] 8443",
		"http://0x7f.1:81?x":        "http 127.0.0.1 81",
		"http://Bücher.example#top": "http xn--bcher-kva.example 80",
	} {
		tg, err := ParseURL(raw)
		if err != nil {
			t.Fatalf("ParseURL(%q): %v", raw, err)
		}
		got := fmt.Sprintf("%s %s %d", tg.Scheme, tg.Host, tg.Port)
		if got != want {
			t.Errorf("ParseURL(%q) = %s, want %s", raw, got, want)
		}
	}
}

func TestCheckResolved(t *testing.T) {
	h := Host{Name: "mixed.example"}
	pub, priv := netip.MustParseAddr("93.184.215.14"), netip.MustParseAddr("10.0.0.5")
	p := Policy{}
	if err := p.CheckResolved(h, []netip.Addr{pub}); err != nil {
		t.Errorf("public answer refused: %v", err)
	}
	err := p.CheckResolved(h, []netip.Addr{pub, priv})
	var re *RefusedError
	if !errors.As(err, &re) || re.Addr != priv {
		t.Fatalf("a private address beside a public one = %v, want it refused", err)
	}
	if want := "refused: mixed.example resolves to 10.0.0.5, a private address (RFC 1918)"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want it to start %q", err, want)
	}
	if err := p.CheckResolved(h, nil); !errors.Is(err, ErrRefused) {
		t.Errorf("no addresses = %v, want refused", err)
	}

	p = Policy{AllowHosts: []string{"intranet.example", ".corp.example."}}
	for _, name := range []string{"intranet.example", "intranet.example.", "a.corp.example", "b.a.corp.example."} {
		if err := p.CheckResolved(Host{Name: name}, []netip.Addr{priv}); err != nil {
			t.Errorf("%s is an allowed host, yet: %v", name, err)
		}
	}
	for _, name := range []string{"x.intranet.example", "corp.example", "evilcorp.example"} {
		if err := p.CheckResolved(Host{Name: name}, []netip.Addr{priv}); err == nil {
			t.Errorf("%s is not an allowed host, yet it may resolve to %v", name, priv)
		}
	}
	if err := p.CheckResolved(Host{Name: "intranet.example"}, []netip.Addr{netip.MustParseAddr("0.0.0.0")}); err == nil {
		t.Error("an allowed host may resolve to 0.0.0.0")
	}
	if err := p.CheckResolved(Host{Name: "intranet.example"}, []netip.Addr{netip.MustParseAddr("192.0.2.1")}); err == nil {
		t.Error("an allowed host opens documentation space, which isn't private")
	}
}

func TestCheckAddr(t *testing.T) {
	p := Policy{Allow: Loopback}
	if err := p.CheckAddr(netip.MustParseAddr("::ffff:127.0.0.1")); err != nil {
		t.Errorf("mapped loopback with loopback allowed: %v", err)
	}
	err := p.CheckAddr(netip.MustParseAddr("192.168.1.1"))
	if want := "refused: 192.168.1.1 is a private address (RFC 1918); allow private targets for this session to open it"; err == nil || err.Error() != want {
		t.Errorf("CheckAddr(192.168.1.1) = %v, want %q", err, want)
	}
}

func BenchmarkCheckURL(b *testing.B) {
	p := Policy{}
	for _, u := range []string{
		"https://www.example.com/path/to/page?q=1",
		"http://93.184.215.14/",
		"http://0x7f.1/",
		"https://bücher.example/",
	} {
		b.Run(u, func(b *testing.B) {
			for b.Loop() {
				p.CheckURL(u)
			}
		})
	}
}

// FuzzCheckURL checks that CheckURL never panics, that its refusals are *RefusedError, and that
// a URL the default policy lets through never names a special address.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://example.com/", "http://127.1/", "http://[::ffff:127.0.0.1]:80/", "about:blank",
		"http://user@host/", "file:///etc/passwd", "http://0x7f.1/", "http:example.com",
		"https://bücher.example/", "http://[fe80::1%25eth0]/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		tg, err := Policy{}.CheckURL(raw)
		if err != nil {
			var re *RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("CheckURL(%q) = %v, not a *RefusedError", raw, err)
			}
			_ = re.Error()
			return
		}
		if tg.Host.IsAddr() && Classify(tg.Host.Addr).Special() {
			t.Fatalf("CheckURL(%q) let %v through", raw, tg.Host.Addr)
		}
		if tg.Scheme != "http" && tg.Scheme != "https" && tg.Scheme != "about" {
			t.Fatalf("CheckURL(%q) let scheme %q through", raw, tg.Scheme)
		}
	})
}
