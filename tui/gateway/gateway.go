// Package gateway is the TUI's connection to palyrad's admin API as the panes see it: the
// client while connected, what its token may do, and otherwise why there is no connection.
// The root model owns the connection; panes only read this value.
package gateway

import (
	"errors"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/internal/adminclient"
	"github.com/palyra/palyra/internal/textsafe"
)

// The permissions the panes check before offering a verb (palyrad's daemon/access names).
const (
	ObservabilityRead = "observability.read"
	ApprovalsDecide   = "approvals.decide"
	TrustOperate      = "trust.operate"
)

// Conn is the state of the TUI's gateway connection.
type Conn struct {
	Client      *adminclient.Client // nil while not connected
	Channels    Channels            // the connectors, over Client (or a test's own)
	Principal   string              // who the token is, as WhoAmI says
	Admin       bool                // the admin token holds every permission
	Permissions []string
	Problem     string // why Client is nil, for the panes to show; "" before the first attempt
}

// Connected reports whether calls can be made.
func (c Conn) Connected() bool { return c.Client != nil || c.Channels != nil }

// Can reports whether the token holds perm.
func (c Conn) Can(perm string) bool { return c.Admin || slices.Contains(c.Permissions, perm) }

// Refusal is the error for a verb the pane cannot run: not connected, or the token lacks
// perm, in which case what names the verb ("decide approvals").
func (c Conn) Refusal(perm, what string) error {
	switch {
	case !c.Connected() && c.Problem != "":
		return errors.New("not connected to palyrad: " + c.Problem)
	case !c.Connected():
		return errors.New("not connected to palyrad yet")
	case !c.Can(perm):
		return errors.New("this token (" + textsafe.Clean(c.Principal) + ") cannot " + what + ": it lacks " + perm)
	}
	return nil
}

// Explain turns an error from an admin call into text an operator can act on.
func Explain(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return textsafe.Clean(err.Error())
	}
	msg := textsafe.Clean(st.Message())
	switch st.Code() {
	case codes.Unavailable:
		return "gateway unreachable: " + msg
	case codes.Unauthenticated:
		return "token refused: " + msg
	case codes.PermissionDenied:
		return "permission denied: " + msg
	case codes.DeadlineExceeded:
		return "palyrad did not answer in time"
	case codes.Canceled:
		return "cancelled"
	}
	return msg
}

// Unauthenticated reports whether palyrad refused the token itself.
func Unauthenticated(err error) bool {
	return status.Code(err) == codes.Unauthenticated
}

// Refused reports whether palyrad refused a call because of the state of its subject: an
// approval someone already settled or that timed out, a node that is not connected. Its
// message says which.
func Refused(err error) bool {
	return status.Code(err) == codes.FailedPrecondition
}

// Message is the text of a call's error without its code, sanitized.
func Message(err error) string {
	if st, ok := status.FromError(err); ok {
		return textsafe.Clean(st.Message())
	}
	return textsafe.Clean(err.Error())
}
