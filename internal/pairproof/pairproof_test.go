package pairproof

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"testing"
)

func newKey(t *testing.T) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

func TestProofVerifiesOnlyItsOwnTranscript(t *testing.T) {
	key, der := newKey(t)
	in := Input{SessionID: "s1", Challenge: []byte("0123456789abcdef0123456789abcdef"), PublicKey: der,
		Code: "123456", CACert: []byte("ca"), Name: "laptop", Platform: "linux/amd64"}
	sig, err := Sign(key, in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(in, sig); err != nil {
		t.Fatalf("own proof: %v", err)
	}

	_, otherDER := newKey(t)
	changes := map[string]func(*Input){
		"code":      func(i *Input) { i.Code = "654321" },
		"challenge": func(i *Input) { i.Challenge = []byte("another challenge") },
		"session":   func(i *Input) { i.SessionID = "s2" },
		"ca":        func(i *Input) { i.CACert = []byte("impostor ca") },
		"name":      func(i *Input) { i.Name = "other" },
		"key":       func(i *Input) { i.PublicKey = otherDER },
	}
	for what, change := range changes {
		changed := in
		change(&changed)
		if _, err := Verify(changed, sig); !errors.Is(err, ErrBadProof) {
			t.Errorf("changed %s: got %v, want ErrBadProof", what, err)
		}
	}
}

func TestOnlyP256KeysAreAccepted(t *testing.T) {
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKIXPublicKey(edPub)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	for name, der := range map[string][]byte{"ed25519": edDER, "p384": p384DER, "garbage": []byte("nope")} {
		if _, err := ParsePublicKey(der); err == nil {
			t.Errorf("%s key accepted", name)
		}
	}
}
