// Package netguard decides which network targets a browser session may reach, and enforces
// it where Chromium connects.
//
// # What it checks
//
// Classify names the special-purpose range of an address (IANA's IPv4 and IPv6 special-purpose
// registries: loopback, RFC 1918, link-local, CGNAT, multicast, documentation, reserved, ...),
// seeing through IPv6 forms that carry an IPv4 address (::ffff:127.0.0.1, 6to4, Teredo,
// NAT64). ParseHost reads a URL host as the WHATWG URL Standard, and so Chromium, reads it:
// "127.1", "0x7f000001", "2130706433" and "0177.0.0.1" are all 127.0.0.1. A Policy opens
// public addresses and, per session or by config, chosen kinds of private ones
// (Policy{Allow: PrivateKinds} is "allow private targets"). Policy.CheckURL allows http,
// https and about:blank without credentials; a refusal is a *RefusedError naming the Rule and,
// for an address, its range and what would open it:
//
//	refused: 10.0.0.5 is a private address (RFC 1918); allow private targets for this session to open it
//
// # Why a proxy
//
// Chromium resolves names itself. A check made before Chromium connects (of a URL, or of the
// addresses a name resolved to a moment ago) can be raced: DNS rebinding answers a public
// address to the check and a private one to Chromium's own lookup. So names are not resolved
// to be checked; Chromium is made to connect through a Proxy, an HTTP proxy on loopback that
// resolves each name once, checks every address it got, and connects to exactly a checked
// address. What was checked is what is reached. The proxy tunnels CONNECT (https, wss) and
// forwards absolute-URI requests (http, ws), answers refused targets with a 403, and reports
// each to ProxyConfig.OnRefuse for the session's log. It is bounded (connections, header size
// and time, idle time, dial time), and Close waits for every goroutine it started.
//
// # How an engine uses it
//
// One Proxy per browser session; a listener then knows its session without credentials, and
// its policy is the session's:
//
//	p, err := netguard.NewProxy(netguard.ProxyConfig{
//		Session:  id,
//		Policy:   netguard.Policy{Allow: allowPrivate}, // 0, or netguard.PrivateKinds
//		OnRefuse: func(r netguard.Refusal) { session.LogRefusal(r) },
//		Logger:   logger,
//	})
//	defer p.Close()
//
// Point the session's Chromium traffic at it, either per session context (CDP
// Target.createBrowserContext with proxyServer: p.URL(), proxyBypassList: netguard.BypassList)
// or, with a Chromium per session, with p.ChromiumFlags() on its command line. The bypass list
// "<-loopback>" matters: without it Chromium sends localhost and 127.0.0.0/8 around any proxy.
//
// Then, inside Chromium's request path:
//
//   - Fetch domain (Fetch.enable with patterns for every request, on every target, service
//     workers included): on Fetch.requestPaused run p.Policy().CheckURL(request.url) and answer
//     Fetch.failRequest(BlockedByClient) on an error, Fetch.continueRequest otherwise. This
//     refuses schemes, credentials and address literals early, with the same words.
//   - Responses (Network.responseReceived): p.CheckResponse(response.remoteIPAddress,
//     response.remotePort). Proxied responses report the proxy's address and pass; any other
//     address went around the proxy and is checked as it is.
//   - Before navigating, check the URL the agent asked for with CheckURL; SetPolicy when the
//     session's allowance changes (open tunnels the new policy refuses are closed).
//
// Websockets are not paused by the Fetch domain; Chromium sends them through the proxy as
// CONNECT tunnels, where they are checked like any connection.
package netguard
