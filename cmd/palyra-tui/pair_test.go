package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

const testFingerprint = "9a3e5f0c1b2d4e6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7"

func mintReply(method, secret string) *palyrav1.MintCodeReply {
	return &palyrav1.MintCodeReply{
		CodeId: "3f9c0a1b2c4d", Method: method, Secret: secret,
		ExpiresUnixMs: time.Now().Add(10 * time.Minute).UnixMilli(),
		NodeAddr:      "192.0.2.10:7444", CaFingerprint: testFingerprint,
		Uri: "palyra://pair?addr=192.0.2.10%3A7444&ca=" + testFingerprint[:32] + "&code=" + secret,
	}
}

func TestPairPIN(t *testing.T) {
	f := newFakeAdmin(t)
	f.reply(palyrav1.PairingService_MintCode_FullMethodName, mintReply("pin", "042917"))
	o := f.run(t, "pair")
	o.expect(t, exitOK)
	checkRequest(t, only[*palyrav1.MintCodeRequest](t, f, palyrav1.PairingService_MintCode_FullMethodName),
		&palyrav1.MintCodeRequest{Method: "pin"})
	for _, want := range []string{
		"PIN             042917\n",
		"node address    192.0.2.10:7444\n",
		"CA fingerprint  " + testFingerprint + "\n",
		"(in 9m)", // expiry, relative
		"  PALYRA_PAIR_CODE=042917 palyra-node pair --gateway 192.0.2.10:7444 --ca-fingerprint " + testFingerprint + "\n",
	} {
		if !strings.Contains(o.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, o.stdout)
		}
	}
	if strings.ContainsAny(o.stdout, "█▀▄") {
		t.Errorf("a QR code was drawn for a PIN without --qr:\n%s", o.stdout)
	}
}

func TestPairQR(t *testing.T) {
	f := newFakeAdmin(t)
	reply := mintReply("qr", "01JD4W6ZB3K9V8X2M5N7P0Q1RS")
	f.reply(palyrav1.PairingService_MintCode_FullMethodName, reply)
	o := f.run(t, "pair", "--qr", "--ttl", "30m")
	o.expect(t, exitOK)
	checkRequest(t, only[*palyrav1.MintCodeRequest](t, f, palyrav1.PairingService_MintCode_FullMethodName),
		&palyrav1.MintCodeRequest{Method: "qr", TtlMs: 30 * 60 * 1000})
	if !strings.Contains(o.stdout, "█") || !strings.Contains(o.stdout, "QR token        "+reply.Secret) {
		t.Errorf("no QR code or token:\n%s", o.stdout)
	}
	// The QR code fits the narrowest terminal; the command line for the node may wrap.
	for line := range strings.SplitSeq(o.stdout, "\n") {
		if strings.ContainsAny(line, "█▀▄") {
			checkWidth(t, line)
		}
	}
}

func TestPairJSON(t *testing.T) {
	f := newFakeAdmin(t)
	reply := mintReply("qr", "01JD4W6ZB3K9V8X2M5N7P0Q1RS")
	f.reply(palyrav1.PairingService_MintCode_FullMethodName, reply)
	o := f.run(t, "pair", "--qr", "--json")
	o.expect(t, exitOK)
	sameJSON(t, o.stdout, fmt.Sprintf(`{"code_id":"3f9c0a1b2c4d","method":"qr","code":"01JD4W6ZB3K9V8X2M5N7P0Q1RS",
		"expires_unix_ms":%d,"node_addr":"192.0.2.10:7444","ca_fingerprint":%q,"uri":%q}`,
		reply.ExpiresUnixMs, testFingerprint, reply.Uri))
}

func TestPairSanitized(t *testing.T) {
	f := newFakeAdmin(t)
	reply := mintReply("pin", "123456")
	reply.NodeAddr = "\x1b[31mevil\x1b[0m:7444"
	f.reply(palyrav1.PairingService_MintCode_FullMethodName, reply)
	o := f.run(t, "pair")
	o.expect(t, exitOK)
	if strings.ContainsRune(o.stdout, 0x1b) || !strings.Contains(o.stdout, "--gateway evil:7444") {
		t.Errorf("node address not sanitized:\n%q", o.stdout)
	}
}

func TestPairBadTTL(t *testing.T) {
	f := newFakeAdmin(t)
	f.reply(palyrav1.PairingService_MintCode_FullMethodName, mintReply("pin", "123456"))
	for _, ttl := range []string{"ten", "-5m", "0", "10"} {
		t.Run(ttl, func(t *testing.T) {
			f.run(t, "pair", "--ttl", ttl).expect(t, exitUsage, "ttl")
		})
	}
	if n := len(f.got(palyrav1.PairingService_MintCode_FullMethodName)); n != 0 {
		t.Errorf("%d codes minted with a bad --ttl", n)
	}
}
