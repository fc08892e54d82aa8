package main

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

func TestTokensCreate(t *testing.T) {
	f := newFakeAdmin(t)
	on(f, palyrav1.AccessService_CreateToken_FullMethodName, func(req *palyrav1.CreateTokenRequest) (*palyrav1.CreateTokenReply, error) {
		return &palyrav1.CreateTokenReply{
			Token:  &palyrav1.Token{Id: "9f2c", Name: req.Name, Permissions: req.Permissions, CreatedUnixMs: 1790000000000},
			Secret: "pt_9f2c_very-secret",
		}, nil
	})
	o := f.run(t, "tokens", "create", "oncall", "--permission", "observability.read", "--permission", "approvals.decide,trust.operate")
	o.expect(t, exitOK, "token 9f2c (oncall: observability.read,approvals.decide,trust.operate) created", "will not be shown again")
	if o.stdout != "pt_9f2c_very-secret\n" {
		t.Errorf("stdout %q, want the secret alone", o.stdout)
	}
	if strings.Contains(o.stderr, "very-secret") {
		t.Errorf("the secret reached stderr: %q", o.stderr)
	}
	checkRequest(t, only[*palyrav1.CreateTokenRequest](t, f, palyrav1.AccessService_CreateToken_FullMethodName),
		&palyrav1.CreateTokenRequest{Name: "oncall", Permissions: []string{"observability.read", "approvals.decide", "trust.operate"}})
}

func TestTokensCreateUsage(t *testing.T) {
	f := newFakeAdmin(t)
	f.run(t, "tokens", "create", "ci").expect(t, exitUsage, "at least one --permission")
	f.run(t, "tokens", "create", "--permission", "observability.read").expect(t, exitUsage)
	f.run(t, "tokens").expect(t, exitUsage, "tokens needs one of")
	if n := len(f.got(palyrav1.AccessService_CreateToken_FullMethodName)); n != 0 {
		t.Errorf("%d tokens created despite usage errors", n)
	}
}

func TestTokensCreateNotAdmin(t *testing.T) {
	f := newFakeAdmin(t)
	f.fail(palyrav1.AccessService_CreateToken_FullMethodName, codes.PermissionDenied, "/palyra.v1.AccessService/CreateToken needs the admin token")
	o := f.run(t, "tokens", "create", "ci", "--permission", "observability.read")
	o.expect(t, exitFailure, "permission denied: /palyra.v1.AccessService/CreateToken needs the admin token")
	if o.stdout != "" {
		t.Errorf("stdout %q, want nothing", o.stdout)
	}
}

func TestTokensList(t *testing.T) {
	f := newFakeAdmin(t)
	f.reply(palyrav1.AccessService_ListTokens_FullMethodName, &palyrav1.ListTokensReply{Tokens: []*palyrav1.Token{
		{Id: "9f2c", Name: "ci", Permissions: []string{"observability.read"}, CreatedUnixMs: 1790000000000},
		{Id: "77aa", Name: "old", CreatedUnixMs: 1780000000000, RevokedUnixMs: 1785000000000},
	}})
	o := f.run(t, "tokens", "list", "--json")
	o.expect(t, exitOK)
	sameJSON(t, o.stdout, `[
		{"id":"9f2c","name":"ci","permissions":["observability.read"],"created_unix_ms":1790000000000,"revoked_unix_ms":0},
		{"id":"77aa","name":"old","permissions":[],"created_unix_ms":1780000000000,"revoked_unix_ms":1785000000000}]`)

	o = f.runOn(t, newTerminal(t, narrowest), "tokens", "list")
	o.expect(t, exitOK)
	checkWidth(t, o.stdout)
	lines := strings.Split(strings.TrimSuffix(o.stdout, "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID    NAME  CREATED") ||
		!strings.HasSuffix(lines[1], "observability.read") || !strings.Contains(lines[2], "d ago") {
		t.Errorf("table:\n%s", o.stdout)
	}
}

func TestTokensRevoke(t *testing.T) {
	f := newFakeAdmin(t)
	f.reply(palyrav1.AccessService_RevokeToken_FullMethodName, &palyrav1.RevokeTokenReply{Token: &palyrav1.Token{Id: "9f2c", Name: "ci"}})
	o := f.run(t, "tokens", "revoke", "9f2c")
	o.expect(t, exitOK)
	if o.stdout != "token 9f2c (ci) revoked\n" {
		t.Errorf("output %q", o.stdout)
	}
	checkRequest(t, only[*palyrav1.RevokeTokenRequest](t, f, palyrav1.AccessService_RevokeToken_FullMethodName),
		&palyrav1.RevokeTokenRequest{Id: "9f2c"})

	f.fail(palyrav1.AccessService_RevokeToken_FullMethodName, codes.NotFound, "no token 0000")
	f.run(t, "tokens", "revoke", "0000").expect(t, exitFailure, "no token 0000")
}
