package gateway

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/internal/adminclient"
)

func TestCan(t *testing.T) {
	admin := Conn{Admin: true}
	reader := Conn{Permissions: []string{ObservabilityRead}}
	for _, perm := range []string{ObservabilityRead, ApprovalsDecide, TrustOperate} {
		if !admin.Can(perm) {
			t.Errorf("the admin cannot %s", perm)
		}
		if got := reader.Can(perm); got != (perm == ObservabilityRead) {
			t.Errorf("a reader Can(%s) = %v", perm, got)
		}
	}
}

func TestRefusal(t *testing.T) {
	client, err := adminclient.Dial("127.0.0.1:1", "pt_x") // connects on first use, never here
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	cases := []struct {
		conn Conn
		want string
	}{
		{Conn{}, "not connected to palyrad yet"},
		{Conn{Problem: "token refused: unknown token"}, "not connected to palyrad: token refused: unknown token"},
		{Conn{Client: client, Principal: "graf\x1b[2Jana", Permissions: []string{ObservabilityRead}},
			"this token (grafana) cannot decide approvals: it lacks approvals.decide"},
		{Conn{Client: client, Permissions: []string{ApprovalsDecide}}, ""},
	}
	for _, c := range cases {
		err := c.conn.Refusal(ApprovalsDecide, "decide approvals")
		if got := ""; err != nil {
			got = err.Error()
			if got != c.want {
				t.Errorf("Refusal = %q, want %q", got, c.want)
			}
		} else if c.want != "" {
			t.Errorf("Refusal = nil, want %q", c.want)
		}
	}
}

func TestExplain(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{status.Error(codes.Unavailable, "connection refused"), "gateway unreachable: connection refused"},
		{status.Error(codes.Unauthenticated, "unknown token"), "token refused: unknown token"},
		{status.Error(codes.PermissionDenied, "needs trust.operate"), "permission denied: needs trust.operate"},
		{status.Error(codes.DeadlineExceeded, "x"), "palyrad did not answer in time"},
		{status.Error(codes.NotFound, "no device \x1b]0;x\x07dev-1"), "no device dev-1"},
		{errors.New("plain\x1b[31m"), "plain"},
	}
	for _, c := range cases {
		if got := Explain(c.err); got != c.want {
			t.Errorf("Explain(%v) = %q, want %q", c.err, got, c.want)
		}
	}
	if !Refused(status.Error(codes.FailedPrecondition, "ap-7 was already approved")) || Refused(errors.New("x")) {
		t.Error("Refused misreads FAILED_PRECONDITION")
	}
	if !Unauthenticated(status.Error(codes.Unauthenticated, "x")) || Unauthenticated(errors.New("x")) {
		t.Error("Unauthenticated misreads UNAUTHENTICATED")
	}
}
