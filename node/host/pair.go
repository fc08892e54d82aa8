package host

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/internal/buildinfo"
	"github.com/palyra/palyra/internal/pairproof"
	"github.com/palyra/palyra/internal/textsafe"
	"github.com/palyra/palyra/node/identity"
	"github.com/palyra/palyra/node/paircode"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// Pairing outcomes other than success.
var (
	ErrDenied        = errors.New("pairing denied")
	ErrExpired       = errors.New("pairing request expired before it was approved; ask the operator for a new code")
	ErrCAMismatch    = errors.New("the gateway's CA does not match the expected fingerprint")
	ErrImpersonation = errors.New("the gateway's TLS certificate is not issued by the CA it sent, so it may not be the gateway")
)

// rpcTimeout bounds each pairing call except the wait for the operator.
const rpcTimeout = 15 * time.Second

// longestWait is how long one AwaitPairing call waits on the gateway (its own default).
const longestWait = time.Minute

// PairConfig is what Pair needs.
type PairConfig struct {
	Gateway string // node API address, host:port
	Code    string // the PIN or QR token; never printed
	Name    string // how the operator will see this node
	// CAFingerprints are normalized fingerprints (see paircode) the gateway CA must all
	// match. Without any, the CA is trusted on first use and its fingerprint printed.
	CAFingerprints []string
	// Wait bounds the wait for the operator's decision; 0 waits until the request expires.
	Wait time.Duration
	// Out receives the lines the operator reads.
	Out io.Writer
}

// Pair pairs the node in dir with the gateway: it proves the node's key and the code, waits
// for the operator's approval, then saves the certificate, the CA and node.json. Denial and
// expiry are ErrDenied and ErrExpired. If ctx ends first, nothing but the node's key (made
// once, kept for the next attempt) has been written.
func Pair(ctx context.Context, dir *identity.Dir, cfg PairConfig) (*identity.Identity, error) {
	if id, err := dir.Load(); err == nil {
		return nil, fmt.Errorf("already paired as %s with %s; run `palyra-node unpair` first", textsafe.Clean(id.DeviceID), id.Gateway)
	} else if !errors.Is(err, identity.ErrNotPaired) {
		return nil, err
	}
	key, err := dir.LoadOrCreateKey()
	if err != nil {
		return nil, err
	}

	session, ca, err := begin(ctx, cfg.Gateway, cfg.Code)
	if err != nil {
		return nil, err
	}
	caFingerprint := paircode.Fingerprint(ca.Raw)
	for _, fp := range cfg.CAFingerprints {
		if !paircode.Matches(fp, ca.Raw) {
			return nil, fmt.Errorf("%w: expected %s, the gateway has %s; check the address and the fingerprint palyra-tui shows", ErrCAMismatch, fp, caFingerprint)
		}
	}
	if len(cfg.CAFingerprints) > 0 {
		fmt.Fprintf(cfg.Out, "gateway CA %s matches the expected fingerprint\n", caFingerprint)
	} else {
		fmt.Fprintf(cfg.Out, "gateway CA fingerprint %s\n  (not checked: trusted on first use; compare it with the one palyra-tui shows, or pass --ca-fingerprint)\n", caFingerprint)
	}

	conn, err := dial(cfg.Gateway, trusting(ca))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	client := palyrav1.NewNodeServiceClient(conn)

	pub := identity.PublicKeyDER(key)
	sig, err := pairproof.Sign(key, pairproof.Input{
		SessionID: session.GetSessionId(), Challenge: session.GetChallenge(), PublicKey: pub,
		Code: cfg.Code, CACert: ca.Raw, Name: cfg.Name, Platform: Platform(),
	})
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	st, err := client.CompletePairing(rctx, &palyrav1.CompletePairingRequest{
		SessionId: session.GetSessionId(), Name: cfg.Name, Platform: Platform(),
		PublicKey: pub, Signature: sig, NodeVersion: buildinfo.Version,
	})
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, rpcError("complete pairing", cfg.Gateway, err)
	}
	deviceID := st.GetDeviceId()
	fmt.Fprintf(cfg.Out, "pairing request %s sent; device %s key fingerprint %s — approve it in palyra-tui (Approvals pane, key a)\n",
		textsafe.Clean(st.GetRequestId()), textsafe.Clean(deviceID), identity.KeyFingerprint(key))

	if st, err = await(ctx, client, st, cfg); err != nil {
		return nil, err
	}
	switch st.GetState() {
	case "approved":
	case "denied":
		reason := textsafe.Clean(st.GetReason())
		if reason == "" {
			reason = "no reason given"
		}
		return nil, fmt.Errorf("%w: %s", ErrDenied, reason)
	case "expired":
		return nil, ErrExpired
	default:
		return nil, fmt.Errorf("the gateway answered with pairing state %q", textsafe.Clean(st.GetState()))
	}

	cert, err := checkIssued(st.GetClientCert(), key, ca)
	if err != nil {
		return nil, err
	}
	meta := identity.Meta{DeviceID: deviceID, Name: cfg.Name, Gateway: cfg.Gateway, PairedAt: time.Now().UTC(), CertExpires: cert.NotAfter}
	if err := dir.SavePairing(ca.Raw, cert.Raw, meta); err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Out, "paired as %s, certificate valid until %s\n", textsafe.Clean(deviceID), cert.NotAfter.Local().Format(time.RFC3339))
	return dir.Load()
}

// begin redeems the code and returns the session and the CA the gateway sent, once the
// gateway's own certificate has been checked against that CA. The node trusts no CA yet, so
// the handshake cannot verify the server; the check is made on the certificate it showed.
func begin(ctx context.Context, addr, code string) (*palyrav1.BeginPairingReply, *x509.Certificate, error) {
	//nolint:gosec // verified below against the CA the reply names, and pinned by fingerprint
	conn, err := dial(addr, &tls.Config{ServerName: ServerName, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	var p peer.Peer
	rctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	reply, err := palyrav1.NewNodeServiceClient(conn).BeginPairing(rctx, &palyrav1.BeginPairingRequest{Code: code}, grpc.Peer(&p))
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		if status.Code(err) == codes.Unavailable {
			return nil, nil, rpcError("begin pairing", addr, err)
		}
		return nil, nil, fmt.Errorf("the gateway refused the pairing code: %s; ask the operator for a new one", textsafe.Clean(status.Convert(err).Message()))
	}
	ca, err := x509.ParseCertificate(reply.GetCaCert())
	if err != nil || !ca.IsCA {
		return nil, nil, errors.New("the gateway sent no usable CA certificate")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return nil, nil, errors.New("the gateway showed no TLS certificate")
	}
	chain := info.State.PeerCertificates
	roots, intermediates := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(ca)
	for _, c := range chain[1:] {
		intermediates.AddCert(c)
	}
	_, err = chain[0].Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: intermediates, DNSName: ServerName,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%w (%v)", ErrImpersonation, err)
	}
	return reply, ca, nil
}

// await waits until the request is decided or expires, cfg.Wait passes or ctx ends. A
// gateway that restarts meanwhile is waited for.
func await(ctx context.Context, client palyrav1.NodeServiceClient, st *palyrav1.PairingStatus, cfg PairConfig) (*palyrav1.PairingStatus, error) {
	waitCtx := ctx
	if cfg.Wait > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(ctx, cfg.Wait)
		defer cancel()
	}
	retry := time.Second
	for st.GetState() == "pending" {
		wait := longestWait
		if deadline, ok := waitCtx.Deadline(); ok {
			wait = min(wait, time.Until(deadline))
		}
		rctx, cancel := context.WithTimeout(waitCtx, wait+rpcTimeout)
		next, err := client.AwaitPairing(rctx, &palyrav1.AwaitPairingRequest{RequestId: st.GetRequestId(), WaitMs: max(wait.Milliseconds(), 1)})
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case err == nil:
			st, retry = next, time.Second
		case waitCtx.Err() != nil:
			return nil, fmt.Errorf("no decision within %v; request %s stays pending on the gateway until it expires", cfg.Wait, textsafe.Clean(st.GetRequestId()))
		case status.Code(err) == codes.Unavailable || status.Code(err) == codes.DeadlineExceeded:
			select {
			case <-waitCtx.Done():
			case <-time.After(retry):
			}
			retry = min(2*retry, 10*time.Second)
		default:
			return nil, rpcError("wait for approval", cfg.Gateway, err)
		}
	}
	return st, nil
}
