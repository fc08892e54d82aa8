// Package paircode reads what an operator hands a node to pair it: a PIN, a QR token, or the
// palyra://pair?code=…&addr=…&ca=… URI a QR code carries, and the CA fingerprint the node
// checks the gateway against.
package paircode

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// maxCode bounds a code; PINs are 6 digits and QR tokens well under this.
const maxCode = 128

// MinFingerprint is the fewest hex digits of a CA fingerprint accepted (128 bits): what a
// pairing URI carries to keep its QR code small.
const MinFingerprint = 32

// Code is a parsed pairing code.
type Code struct {
	Secret string
	// Gateway and CAFingerprint come from a URI; empty for a bare code.
	Gateway       string
	CAFingerprint string // normalized, see NormalizeFingerprint
}

// Parse reads a bare code or a palyra://pair URI.
func Parse(s string) (Code, error) {
	s = strings.TrimSpace(s)
	if len(s) >= len("palyra:") && strings.EqualFold(s[:len("palyra:")], "palyra:") {
		return parseURI(s)
	}
	if err := checkSecret(s); err != nil {
		return Code{}, err
	}
	return Code{Secret: s}, nil
}

func parseURI(s string) (Code, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Code{}, errors.New("pairing URI does not parse; copy it again from palyra-tui")
	}
	if u.Host != "pair" || (u.Path != "" && u.Path != "/") || u.User != nil || u.Fragment != "" {
		return Code{}, errors.New("not a pairing URI: want palyra://pair?code=…&addr=…&ca=…")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Code{}, fmt.Errorf("pairing URI query: %w", err)
	}
	var c Code
	c.Secret = q.Get("code")
	if err := checkSecret(c.Secret); err != nil {
		return Code{}, fmt.Errorf("pairing URI: %w", err)
	}
	if addr := q.Get("addr"); addr != "" {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return Code{}, fmt.Errorf("pairing URI: gateway address %q is not host:port", addr)
		}
		c.Gateway = addr
	}
	if ca := q.Get("ca"); ca != "" {
		if c.CAFingerprint, err = NormalizeFingerprint(ca); err != nil {
			return Code{}, fmt.Errorf("pairing URI: %w", err)
		}
	}
	return c, nil
}

func checkSecret(s string) error {
	if s == "" {
		return errors.New("empty pairing code")
	}
	if len(s) > maxCode {
		return fmt.Errorf("pairing code longer than %d characters", maxCode)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return errors.New("pairing code has characters a code never has; copy it again")
		}
	}
	return nil
}

// NormalizeFingerprint turns a CA fingerprint as an operator may write it (any case, with or
// without colons) into lower-case hex: all 64 digits of the SHA-256 or a prefix of at least
// MinFingerprint.
func NormalizeFingerprint(s string) (string, error) {
	fp := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
	if strings.Trim(fp, "0123456789abcdef") != "" || len(fp) < MinFingerprint || len(fp) > 2*sha256.Size {
		return "", fmt.Errorf("CA fingerprint %q is not the SHA-256 of the CA in hex (64 digits, or at least the first %d)", s, MinFingerprint)
	}
	return fp, nil
}

// Fingerprint is the full fingerprint of a CA certificate: the hex SHA-256 of its DER bytes.
func Fingerprint(caDER []byte) string {
	sum := sha256.Sum256(caDER)
	return hex.EncodeToString(sum[:])
}

// Matches reports whether the normalized fingerprint fp names the CA caDER.
func Matches(fp string, caDER []byte) bool {
	return fp != "" && strings.HasPrefix(Fingerprint(caDER), fp)
}
