package main

import (
	"strings"
	"testing"

	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

func TestAuditVerify(t *testing.T) {
	f := newFakeAdmin(t)
	f.reply(palyrav1.AuditService_VerifyAudit_FullMethodName, &palyrav1.VerifyAuditReply{Ok: true, Checked: 1042})
	o := f.run(t, "audit", "verify")
	o.expect(t, exitOK)
	if o.stdout != "audit journal intact: 1042 entries checked\n" {
		t.Errorf("output %q", o.stdout)
	}
	o = f.run(t, "audit", "verify", "--json")
	o.expect(t, exitOK)
	sameJSON(t, o.stdout, `{"ok":true,"checked":1042,"broken_seq":0,"problem":""}`)
}

func TestAuditVerifyBroken(t *testing.T) {
	f := newFakeAdmin(t)
	f.reply(palyrav1.AuditService_VerifyAudit_FullMethodName, &palyrav1.VerifyAuditReply{
		Checked: 977, BrokenSeq: 977, Problem: "hash does not match the entry"})
	o := f.run(t, "audit", "verify")
	o.expect(t, exitFailure, "audit journal broken at entry 977: hash does not match the entry (977 entries checked)")
	if o.stdout != "" {
		t.Errorf("stdout %q", o.stdout)
	}
	o = f.run(t, "audit", "verify", "--json")
	o.expect(t, exitFailure)
	if o.stderr != "" {
		t.Errorf("stderr %q, want the JSON alone", o.stderr)
	}
	sameJSON(t, o.stdout, `{"ok":false,"checked":977,"broken_seq":977,"problem":"hash does not match the entry"}`)
}

func TestAuditList(t *testing.T) {
	f := newFakeAdmin(t)
	// Pages come newest first; the journal prints oldest first.
	f.reply(palyrav1.AuditService_ListAudit_FullMethodName, &palyrav1.ListAuditReply{Entries: []*palyrav1.AuditEntry{
		{Seq: 977, UnixMs: 1790000001000, Kind: "approval.decided", Actor: "admin", Subject: "ap-7", Detail: "denied:\x1b[2J\nnope", Hash: "bb"},
		{Seq: 976, UnixMs: 1790000000000, Kind: "pairing.code_minted", Actor: "admin", Subject: "3f9c0a1b2c4d", Detail: "pin until …", Hash: "aa"},
	}})
	o := f.run(t, "audit", "list", "-n", "2", "--json")
	o.expect(t, exitOK)
	sameJSON(t, o.stdout, `[
		{"seq":976,"unix_ms":1790000000000,"kind":"pairing.code_minted","actor":"admin","subject":"3f9c0a1b2c4d","detail":"pin until …","hash":"aa"},
		{"seq":977,"unix_ms":1790000001000,"kind":"approval.decided","actor":"admin","subject":"ap-7","detail":"denied:\u001b[2J\nnope","hash":"bb"}]`)

	o = f.run(t, "audit", "list")
	o.expect(t, exitOK)
	lines := strings.Split(strings.TrimSuffix(o.stdout, "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "   976  ") || !strings.HasSuffix(lines[1], "approval.decided  admin  ap-7  denied: nope") {
		t.Errorf("output:\n%q", o.stdout)
	}
	reqs := f.got(palyrav1.AuditService_ListAudit_FullMethodName)
	checkRequest(t, reqs[0], &palyrav1.ListAuditRequest{PageSize: 2})
	checkRequest(t, reqs[1], &palyrav1.ListAuditRequest{PageSize: 50})

	f.run(t, "audit", "list", "-n", "0").expect(t, exitOK)
	checkRequest(t, f.got(palyrav1.AuditService_ListAudit_FullMethodName)[2], &palyrav1.ListAuditRequest{PageSize: maxPage})
	f.run(t, "audit", "list", "-n", "-3").expect(t, exitUsage, "-n")
}
