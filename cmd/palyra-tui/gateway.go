package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/internal/adminclient"
	"github.com/palyra/palyra/internal/textsafe"
	"github.com/palyra/palyra/supervisor/stack"
	"github.com/palyra/palyra/tui/termtext"
)

// gatewayEnv points the gateway commands at a palyrad, as --gateway does.
const gatewayEnv = "PALYRA_GATEWAY"

// callTimeout bounds one admin call that does not wait on anyone.
const callTimeout = 15 * time.Second

// startDaemonHint is what to do when palyrad does not answer.
const startDaemonHint = "start it with `palyra-tui services start daemon`"

// errDaemonNotRunning says the supervisor reports no running palyrad to reach.
var errDaemonNotRunning = errors.New("palyrad is not running: " + startDaemonHint)

func addGatewayFlags(root *cobra.Command, g *globals) {
	f := root.PersistentFlags()
	f.StringVar(&g.gateway, "gateway", os.Getenv(gatewayEnv),
		"palyrad admin API address for the gateway commands (env "+gatewayEnv+"; default: the supervised daemon's, else --admin-addr)")
	f.StringVar(&g.tokenFile, "token-file", "",
		"file holding the admin API token (default <home>/"+adminclient.AdminTokenFile+"; env "+adminclient.TokenEnv+" gives the token itself)")
	f.StringVar(&g.gatewayCA, "gateway-ca", os.Getenv(adminclient.CAEnv),
		"dial palyrad's admin API with TLS, trusting this copy of the gateway's <home>/pki/ca.crt (env "+adminclient.CAEnv+"; the supervised daemon's is used when it serves TLS)")
}

// gateway is palyrad's admin API as one command uses it. Its fail method turns call errors
// into messages that say what to do.
type gateway struct {
	*adminclient.Client
	addr        string
	explicit    bool   // addr came from --gateway or PALYRA_GATEWAY
	tokenSource string // where the token came from, for a refusal
	ca          string // the gateway CA file TLS is pinned to; "" for plaintext
}

// dialGateway finds palyrad's admin address and token and prepares a client; nothing is
// sent before the first call.
func dialGateway(ctx context.Context, g *globals) (*gateway, error) {
	token, err := adminclient.LoadToken(g.cfg.Home, g.tokenFile)
	if err != nil {
		return nil, err
	}
	gw := &gateway{addr: g.gateway, explicit: g.gateway != "", tokenSource: tokenSource(g), ca: g.gatewayCA}
	if !gw.explicit {
		var tls bool
		if gw.addr, tls, err = supervisedAdminAddr(ctx, g.cfg); err != nil {
			return nil, err
		}
		if tls && gw.ca == "" {
			gw.ca = g.cfg.CACert()
		}
	}
	if gw.Client, err = adminclient.Dial(gw.addr, token, adminclient.WithGatewayCA(gw.ca)); err != nil {
		return nil, err
	}
	return gw, nil
}

// supervisedAdminAddr is the admin address the supervisor reports for its running daemon,
// else the configured one (a palyrad run some other way, or a supervisor not yet started),
// and whether it serves TLS.
func supervisedAdminAddr(ctx context.Context, cfg stack.Config) (addr string, tls bool, err error) {
	if snap, err := currentSnapshot(ctx, cfg); err == nil {
		if addr := adminclient.AdminAddr(snap); addr != "" {
			return addr, stack.AdminTLS(snap), nil
		}
	}
	if _, port, err := net.SplitHostPort(cfg.AdminAddr); err == nil && port == "0" {
		// A free port chosen at start is known only from a running supervisor.
		return "", false, errDaemonNotRunning
	}
	return cfg.AdminAddr, cfg.AdminTLS, nil
}

func tokenSource(g *globals) string {
	switch {
	case strings.TrimSpace(os.Getenv(adminclient.TokenEnv)) != "":
		return adminclient.TokenEnv
	case g.tokenFile != "":
		return g.tokenFile
	default:
		return filepath.Join(g.cfg.Home, adminclient.AdminTokenFile)
	}
}

// fail turns an error from an admin call into one an operator can act on. Every one of them
// exits 1: the server's verdicts on what we sent are failures, not usage errors.
func (gw *gateway) fail(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	msg, addr := textsafe.Clean(st.Message()), textsafe.Clean(gw.addr)
	switch st.Code() {
	case codes.Unavailable:
		switch {
		case strings.Contains(msg, "x509:") || strings.Contains(msg, "tls:"):
			return fmt.Errorf("the TLS handshake with %s failed (%s): pass a copy of that gateway's <home>/pki/ca.crt with --gateway-ca or %s", addr, msg, adminclient.CAEnv)
		case gw.ca == "" && strings.Contains(msg, "server preface"):
			// A TLS server hangs up on a plaintext client before the HTTP/2 preface.
			return fmt.Errorf("%s hung up on a plaintext call: if palyrad serves its admin API with TLS there (--admin-tls), pass a copy of its <home>/pki/ca.crt with --gateway-ca or %s", addr, adminclient.CAEnv)
		}
		if gw.explicit {
			return fmt.Errorf("nothing answers at %s (--gateway or %s): is palyrad's admin API there? (%s)", addr, gatewayEnv, msg)
		}
		return fmt.Errorf("palyrad is not running (nothing answers at %s): %s", addr, startDaemonHint)
	case codes.Unauthenticated:
		return fmt.Errorf("token refused: %s; the token came from %s: use the admin token (<home>/%s) or a valid API token via --token-file or %s",
			msg, gw.tokenSource, adminclient.AdminTokenFile, adminclient.TokenEnv)
	case codes.PermissionDenied:
		return fmt.Errorf("permission denied: %s", msg)
	case codes.DeadlineExceeded:
		return fmt.Errorf("palyrad at %s did not answer in time", addr)
	default:
		return errors.New(msg)
	}
}

// call gives one ordinary admin call its deadline.
func call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, callTimeout)
}

// callGateway dials palyrad, makes one call of rpc within callTimeout and returns its reply,
// or an error that says what to do.
func callGateway[T any](cmd *cobra.Command, g *globals, rpc func(context.Context, *gateway) (T, error)) (T, error) {
	var zero T
	gw, err := dialGateway(cmd.Context(), g)
	if err != nil {
		return zero, err
	}
	defer gw.Close()
	ctx, cancel := call(cmd.Context())
	defer cancel()
	reply, err := rpc(ctx, gw)
	if err != nil {
		return zero, gw.fail(err)
	}
	return reply, nil
}

// Output helpers shared by the gateway commands.

// writeJSON prints v indented, as every non-streaming --json output is.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// column is one column of a human table. A column with min > 0 may be cut down to min cells,
// or its header's width if wider, (ending in an ellipsis) to fit the table's width; one with min 0 is always shown whole. A
// column marked last (an ID an operator types back) is cut only once no other one can be.
type column struct {
	header string
	min    int
	last   bool
}

// writeTable prints rows (already sanitized) in aligned columns. While the table is wider
// than width, the widest column that may still be cut loses a cell; width 0 cuts nothing.
func writeTable(w io.Writer, width int, cols []column, rows [][]string) {
	widths := make([]int, len(cols))
	for i, c := range cols {
		widths[i] = termtext.Width(c.header)
	}
	for _, r := range rows {
		for i, cell := range r {
			widths[i] = max(widths[i], termtext.Width(cell))
		}
	}
	total := 2 * (len(cols) - 1)
	for _, n := range widths {
		total += n
	}
	widest := func(last bool) int {
		cut := -1
		for i, c := range cols {
			floor := max(c.min, termtext.Width(c.header))
			if c.last == last && c.min > 0 && widths[i] > floor && (cut < 0 || widths[i] >= widths[cut]) {
				cut = i
			}
		}
		return cut
	}
	for width > 0 && total > width {
		cut := widest(false)
		if cut < 0 {
			cut = widest(true)
		}
		if cut < 0 {
			break
		}
		widths[cut]--
		total--
	}
	line := func(cells []string) {
		var b strings.Builder
		for i, cell := range cells {
			if i == len(cells)-1 {
				b.WriteString(termtext.Truncate(cell, widths[i]))
				break
			}
			b.WriteString(termtext.Pad(cell, widths[i]))
			b.WriteString("  ")
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	headers := make([]string, len(cols))
	for i, c := range cols {
		headers[i] = c.header
	}
	line(headers)
	for _, r := range rows {
		line(r)
	}
}

// clean sanitizes text from outside for a terminal, showing "-" for nothing.
func clean(s string) string {
	if s == "" {
		return "-"
	}
	return textsafe.Clean(s)
}

// fromUnixMs is a proto time; 0 means not set.
func fromUnixMs(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// ago says how long before now a proto time was: "3m ago", or "never" for 0.
func ago(ms int64, now time.Time) string {
	if ms == 0 {
		return "never"
	}
	return shortDur(now.Sub(fromUnixMs(ms))) + " ago"
}

// until says how long after now a proto time is: "in 4m", "expired", or "-" for 0.
func until(ms int64, now time.Time) string {
	if ms == 0 {
		return "-"
	}
	d := fromUnixMs(ms).Sub(now)
	if d <= 0 {
		return "expired"
	}
	return "in " + shortDur(d)
}

// shortDur is a duration in its largest whole unit: 45s, 12m, 23h, 3d.
func shortDur(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
		fallthrough
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	default:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
}

// stamp is a proto time as a local date and time with its distance from now.
func stamp(ms int64, now time.Time) string {
	if ms == 0 {
		return "-"
	}
	t := fromUnixMs(ms)
	rel := ago(ms, now)
	if t.After(now) {
		rel = until(ms, now)
	}
	return t.Local().Format("2006-01-02 15:04:05") + " (" + rel + ")"
}

// durationMs reads a duration flag in milliseconds: 0 when not given, a usage error when given
// but not positive.
func durationMs(cmd *cobra.Command, name string) (int64, error) {
	if !cmd.Flags().Changed(name) {
		return 0, nil
	}
	d, err := cmd.Flags().GetDuration(name)
	if err != nil {
		return 0, err
	}
	if d < time.Millisecond {
		return 0, usageError{fmt.Errorf("--%s %s: want a positive duration like 10m", name, d)}
	}
	return d.Milliseconds(), nil
}

// maxPage is the largest page the gateway commands ask for.
const maxPage = 500

// collectPages dials palyrad and gathers up to limit items (0: all of them), newest first, a
// page at a time from fetch, each page within its own callTimeout. more says that limit cut
// the list short.
func collectPages[T any](cmd *cobra.Command, g *globals, limit int,
	fetch func(ctx context.Context, gw *gateway, size uint32, token string) ([]T, string, error)) (items []T, more bool, err error) {
	gw, err := dialGateway(cmd.Context(), g)
	if err != nil {
		return nil, false, err
	}
	defer gw.Close()
	token := ""
	for {
		size := maxPage
		if limit > 0 {
			size = min(size, limit-len(items))
		}
		ctx, cancel := call(cmd.Context())
		page, next, err := fetch(ctx, gw, uint32(size), token)
		cancel()
		if err != nil {
			return nil, false, gw.fail(err)
		}
		items = append(items, page...)
		if limit > 0 && len(items) >= limit {
			more, err := anyLeft(cmd, gw, next, fetch)
			return items[:limit], more || len(items) > limit, err
		}
		if next == "" {
			return items, false, nil
		}
		token = next
	}
}

// anyLeft reports whether a page from token on holds anything: a page read under a filter
// may come back empty with a token to go on from.
func anyLeft[T any](cmd *cobra.Command, gw *gateway, token string,
	fetch func(ctx context.Context, gw *gateway, size uint32, token string) ([]T, string, error)) (bool, error) {
	for token != "" {
		ctx, cancel := call(cmd.Context())
		page, next, err := fetch(ctx, gw, 1, token)
		cancel()
		if err != nil {
			return false, gw.fail(err)
		}
		if len(page) > 0 {
			return true, nil
		}
		token = next
	}
	return false, nil
}
