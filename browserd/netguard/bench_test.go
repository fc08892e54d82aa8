package netguard

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// BenchmarkProxyHTTP measures one kept-alive GET of a small page on loopback, directly and
// through the proxy (by name, so the per-connection lookup is in the path the first time).
func BenchmarkProxyHTTP(b *testing.B) {
	srv := startServer(b, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	res := newResolver(map[string]func(int) []netip.Addr{"app.test": always("127.0.0.1")})
	p, _ := startProxy(b, ProxyConfig{Policy: Policy{Allow: Loopback}, Resolver: res})

	direct := &http.Transport{}
	b.Cleanup(direct.CloseIdleConnections)
	for _, bb := range []struct {
		name string
		c    *http.Client
		url  string
	}{
		{"direct", &http.Client{Transport: direct}, srv.URL + "/"},
		{"proxy", proxyClient(b, p, nil), fmt.Sprintf("http://app.test:%d/", port)},
	} {
		b.Run(bb.name, func(b *testing.B) {
			for b.Loop() {
				resp, err := bb.c.Get(bb.url)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

// BenchmarkProxyConnect measures opening a connection and one 1-byte round trip, directly
// and through a CONNECT tunnel: the proxy's cost per new https connection.
func BenchmarkProxyConnect(b *testing.B) {
	echo := startEcho(b)
	p, _ := startProxy(b, ProxyConfig{Policy: Policy{Allow: Loopback}})
	req := fmt.Sprintf("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", echo, echo)
	roundTrip := func(b *testing.B, c net.Conn) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte{'x'}); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			c, err := net.Dial("tcp", echo)
			if err != nil {
				b.Fatal(err)
			}
			roundTrip(b, c)
			c.Close()
		}
	})
	b.Run("proxy", func(b *testing.B) {
		for b.Loop() {
			c, err := net.Dial("tcp", p.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			io.WriteString(c, req)
			if status, err := readHead(c); err != nil || !strings.HasPrefix(status, "HTTP/1.1 200") {
				b.Fatalf("CONNECT: %q %v", status, err)
			}
			roundTrip(b, c)
			c.Close()
		}
	})
}

// BenchmarkProxyTunnelThroughput copies 1 MiB through an open tunnel and back.
func BenchmarkProxyTunnelThroughput(b *testing.B) {
	echo := startEcho(b)
	p, _ := startProxy(b, ProxyConfig{Policy: Policy{Allow: Loopback}})
	buf := make([]byte, 1<<20)
	for _, bb := range []struct {
		name string
		dial func() net.Conn
	}{
		{"direct", func() net.Conn {
			c, err := net.Dial("tcp", echo)
			if err != nil {
				b.Fatal(err)
			}
			return c
		}},
		{"proxy", func() net.Conn { return openTunnel(b, p, echo) }},
	} {
		b.Run(bb.name, func(b *testing.B) {
			c := bb.dial()
			defer c.Close()
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				errc := make(chan error, 1)
				go func() { _, err := c.Write(buf); errc <- err }()
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
				if err := <-errc; err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
