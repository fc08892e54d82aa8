package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/palyra/palyra/internal/qrterm"
	"github.com/palyra/palyra/internal/textsafe"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// pairJSON is the documented shape of `pair --json`:
//
//	{"code_id": "3f9c0a1b2c4d", "method": "pin", "code": "123456", "expires_unix_ms": 1795000000000,
//	 "node_addr": "192.0.2.10:7444", "ca_fingerprint": "<64 hex>", "uri": "palyra://pair?code=…&addr=…&ca=…"}
//
// method is "pin" (code is 6 digits) or "qr" (code is the QR token); code is shown once and
// stored only hashed; uri is what the QR code carries.
type pairJSON struct {
	CodeID        string `json:"code_id"`
	Method        string `json:"method"`
	Code          string `json:"code"`
	ExpiresUnixMs int64  `json:"expires_unix_ms"`
	NodeAddr      string `json:"node_addr"`
	CAFingerprint string `json:"ca_fingerprint"`
	URI           string `json:"uri"`
}

func newPairCmd(g *globals) *cobra.Command {
	var qr, asJSON bool
	cmd := &cobra.Command{
		Use:   "pair",
		Short: "Mint a single-use pairing code for a node (a 6-digit PIN, or a QR code with --qr)",
		Long: "pair mints a pairing code and prints what the node needs: the code, the gateway's\n" +
			"node address and its CA fingerprint, and the command to run on the node. The pairing\n" +
			"then waits for your approval (`palyra-tui approvals`).",
		Example: "  palyra-tui pair\n  palyra-tui pair --qr --ttl 30m",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ttl, err := durationMs(cmd, "ttl")
			if err != nil {
				return err
			}
			req := &palyrav1.MintCodeRequest{Method: "pin", TtlMs: ttl}
			if qr {
				req.Method = "qr"
			}
			reply, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.MintCodeReply, error) {
				return gw.Pairing.MintCode(ctx, req)
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return writeJSON(out, pairJSON{
					CodeID: reply.GetCodeId(), Method: reply.GetMethod(), Code: reply.GetSecret(),
					ExpiresUnixMs: reply.GetExpiresUnixMs(), NodeAddr: reply.GetNodeAddr(),
					CAFingerprint: reply.GetCaFingerprint(), URI: reply.GetUri(),
				})
			}
			return printPairing(out, reply, qr, time.Now())
		},
	}
	f := cmd.Flags()
	f.BoolVar(&qr, "qr", false, "mint a QR token and draw its QR code instead of a PIN")
	f.Duration("ttl", 0, "how long the code stays valid, 30s to 24h (default 10m)")
	f.BoolVar(&asJSON, "json", false, "print JSON (documented in the README)")
	return cmd
}

// printPairing prints what the node needs. The QR code comes last, so that it is whole on the
// screen when the command returns even on a 24-line terminal.
func printPairing(w io.Writer, reply *palyrav1.MintCodeReply, drawQR bool, now time.Time) error {
	code := textsafe.Clean(reply.GetSecret())
	addr := textsafe.Clean(reply.GetNodeAddr())
	fingerprint := textsafe.Clean(reply.GetCaFingerprint())
	label := "PIN"
	if drawQR {
		label = "QR token"
	}
	fmt.Fprintf(w, "%-15s %s\n", label, code)
	fmt.Fprintf(w, "expires         %s\n", stamp(reply.GetExpiresUnixMs(), now))
	fmt.Fprintf(w, "node address    %s\n", addr)
	fmt.Fprintf(w, "CA fingerprint  %s\n", fingerprint)
	// The code goes in the environment: in the arguments, ps would show it to every user.
	fmt.Fprintf(w, "\nOn the node, run:\n  PALYRA_PAIR_CODE=%s palyra-node pair --gateway %s --ca-fingerprint %s\n", code, addr, fingerprint)
	fmt.Fprintln(w, "then approve the request: palyra-tui approvals list")
	if drawQR {
		art, err := qrterm.Render(reply.GetUri())
		if err != nil {
			return fmt.Errorf("draw the QR code: %w", err)
		}
		fmt.Fprintf(w, "\nor scan:\n%s\n", art)
	}
	return nil
}
