package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// TestAScopedTokenOperatesServicesOnlyWithServicesOperate: the supervisor's socket admits
// this uid whatever the token, but the commands act for a scoped token only when palyrad says
// it holds services.operate, as the UI does.
func TestAScopedTokenOperatesServicesOnlyWithServicesOperate(t *testing.T) {
	f := newFakeAdmin(t)
	// The fake takes testToken; this home's own admin token is another.
	home := t.TempDir()
	writeToken(t, home, "admin.token", "pa_"+testToken+"-of-another-home")
	scoped := writeToken(t, t.TempDir(), "grafana.token", testToken)
	f.reply(palyrav1.AccessService_WhoAmI_FullMethodName, &palyrav1.WhoAmIReply{Principal: "grafana", Permissions: []string{"observability.read"}})
	for _, args := range [][]string{{"services", "restart", "browserd"}, {"services", "start", "all"}, {"services", "stop", "daemon"}, {"shutdown"}} {
		o := runCLI(t, context.Background(), nil, append([]string{"--home", home, "--gateway", f.addr, "--token-file", scoped}, args...)...)
		o.expect(t, exitFailure, `permission denied: token "grafana" lacks the services.operate permission`)
	}

	dead := closedAddr(t)
	o := runCLI(t, context.Background(), nil, "--home", home, "--gateway", dead, "--token-file", scoped, "services", "restart", "browserd")
	o.expect(t, exitFailure, "is a scoped one, and palyrad must say whether it may operate services", "nothing answers at "+dead)
}

func TestServicesUnknownNameIsAUsageError(t *testing.T) {
	home := t.TempDir()
	for _, verb := range []string{"start", "stop", "restart"} {
		runCLI(t, context.Background(), nil, "--home", home, "services", verb, "nosuch").
			expect(t, exitUsage, `unknown service "nosuch"`, "daemon, browserd, all")
	}
	if _, err := os.Stat(filepath.Join(home, "serve.log")); err == nil {
		t.Error("a mistyped service name started a supervisor")
	}
}

// TestAScopedTokensUIStartsNothing: the UI with a scoped token attaches to a running stack;
// it neither starts a supervisor nor runs one in process.
func TestAScopedTokensUIStartsNothing(t *testing.T) {
	home := t.TempDir()
	scoped := writeToken(t, t.TempDir(), "grafana.token", "pt_0a1b2c3d4e5f_"+testToken)
	runCLI(t, context.Background(), nil, "--home", home, "--token-file", scoped).
		expect(t, exitFailure, "a scoped token does not start one", "palyra-tui services start all")
	runCLI(t, context.Background(), nil, "--home", home, "--token-file", scoped, "--embedded").
		expect(t, exitFailure, "--embedded starts the services, which a scoped token may not")
	if _, err := os.Stat(filepath.Join(home, "serve.log")); err == nil {
		t.Error("a scoped token's UI started a supervisor")
	}
}
