// Package pairproof is the proof a node gives when it pairs: an ECDSA P-256 signature, made
// with the key the node will be certified for, over a transcript binding that key to the
// gateway's challenge, the pairing code the operator gave out and the CA the node saw. Only
// the holder of the key can make it, and only someone who knows the code; a gateway
// impostor with another CA cannot replay it.
package pairproof

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
)

// ErrBadProof means the signature does not match the transcript.
var ErrBadProof = errors.New("pairing proof does not verify")

// Input is what the transcript covers.
type Input struct {
	SessionID string
	Challenge []byte
	PublicKey []byte // PKIX DER
	Code      string // the PIN or QR token
	CACert    []byte // the gateway CA certificate, DER
	Name      string
	Platform  string
}

// Transcript is the byte string a node signs.
func Transcript(in Input) []byte {
	codeSum := sha256.Sum256([]byte(in.Code))
	keySum := sha256.Sum256(in.PublicKey)
	caSum := sha256.Sum256(in.CACert)
	return fmt.Appendf(nil, "palyra-pairing-v1\nsession=%s\nchallenge=%s\nkey=%s\ncode=%s\nca=%s\nname=%q\nplatform=%q\n",
		in.SessionID, hex.EncodeToString(in.Challenge), hex.EncodeToString(keySum[:]),
		hex.EncodeToString(codeSum[:]), hex.EncodeToString(caSum[:]), in.Name, in.Platform)
}

// Sign signs the transcript of in with key.
func Sign(key *ecdsa.PrivateKey, in Input) ([]byte, error) {
	sum := sha256.Sum256(Transcript(in))
	return ecdsa.SignASN1(rand.Reader, key, sum[:])
}

// Verify checks sig over the transcript of in, against in.PublicKey, and returns that key.
// Only P-256 keys are accepted.
func Verify(in Input, sig []byte) (*ecdsa.PublicKey, error) {
	pub, err := ParsePublicKey(in.PublicKey)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(Transcript(in))
	if !ecdsa.VerifyASN1(pub, sum[:], sig) {
		return nil, ErrBadProof
	}
	return pub, nil
}

// ParsePublicKey parses a PKIX DER public key and insists on ECDSA P-256.
func ParsePublicKey(der []byte) (*ecdsa.PublicKey, error) {
	key, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("node public key: %w", err)
	}
	pub, ok := key.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("node public key: want ECDSA P-256")
	}
	return pub, nil
}

// KeyFingerprint is the SHA-256 of a PKIX DER public key in hex: how a node and the operator
// compare keys.
func KeyFingerprint(publicKeyDER []byte) string {
	sum := sha256.Sum256(publicKeyDER)
	return hex.EncodeToString(sum[:])
}
