package nodemain

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/palyra/palyra/internal/pidlock"
	"github.com/palyra/palyra/internal/textsafe"
	"github.com/palyra/palyra/node/capabilities"
	"github.com/palyra/palyra/node/host"
	"github.com/palyra/palyra/node/identity"
	"github.com/palyra/palyra/node/mediation"
	"github.com/palyra/palyra/node/paircode"
)

// The gateway's view of the node, as status reports it.
const (
	gatewayAccepted    = "accepted"
	gatewayRefused     = "refused"
	gatewayUnreachable = "unreachable"
	// gatewayNotChecked: a running palyra-node holds the session, and the gateway keeps one
	// session per device, so a check's hello would cut the running node off.
	gatewayNotChecked = "not_checked"
)

// statusReport is what `palyra-node status --json` prints.
type statusReport struct {
	Paired          bool      `json:"paired"`
	Home            string    `json:"home"`
	DeviceID        string    `json:"device_id,omitempty"`
	Name            string    `json:"name,omitempty"`
	Gateway         string    `json:"gateway,omitempty"`
	KeyFingerprint  string    `json:"key_fingerprint,omitempty"`
	CAFingerprint   string    `json:"ca_fingerprint,omitempty"`
	PairedAt        time.Time `json:"paired_at,omitzero"`
	CertExpiresAt   time.Time `json:"cert_expires_at,omitzero"`
	CertSecondsLeft int64     `json:"cert_seconds_left"`
	GatewayState    string    `json:"gateway_state,omitempty"`
	GatewayError    string    `json:"gateway_error,omitempty"`
	Error           string    `json:"error,omitempty"`
}

// ok is whether the report is a success: paired, certificate valid, not refused. An
// unreachable gateway is not the node's failure.
func (r statusReport) ok() bool {
	return r.Paired && r.CertSecondsLeft > 0 && r.GatewayState != gatewayRefused
}

func status(args []string) int {
	fs := flag.NewFlagSet("palyra-node status", flag.ContinueOnError)
	home := homeFlag(fs)
	asJSON := fs.Bool("json", false, "print one JSON object")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	ctx, stop := signalContext()
	defer stop()

	report := statusReport{Home: *home}
	id, err := identity.At(*home).Load()
	if err != nil {
		report.Error = err.Error()
	} else {
		report.Paired = true
		report.DeviceID, report.Name, report.Gateway, report.PairedAt = id.DeviceID, id.Name, id.Gateway, id.PairedAt
		report.KeyFingerprint = identity.KeyFingerprint(id.Key)
		report.CAFingerprint = paircode.Fingerprint(id.CA.Raw)
		report.CertExpiresAt = id.CertExpires
		report.CertSecondsLeft = max(int64(time.Until(id.CertExpires).Seconds()), 0)
		report.GatewayState, report.GatewayError = checkGateway(ctx, *home, id)
		if ctx.Err() != nil {
			return exitInterrupted
		}
	}

	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		if err := enc.Encode(report); err != nil {
			return exitFailure
		}
	} else {
		printStatus(os.Stdout, report)
	}
	if !report.ok() {
		return exitFailure
	}
	return exitOK
}

// checkGateway asks the gateway whether it accepts id, unless a running palyra-node uses it.
func checkGateway(ctx context.Context, home string, id *identity.Identity) (state, detail string) {
	if pid := pidlock.LiveHolder(filepath.Join(home, LockFile)); pid != 0 {
		return gatewayNotChecked, fmt.Sprintf("palyra-node pid %d uses this identity; not checked, so as not to displace its session (see its log)", pid)
	}
	// The hello announces what `run` would, with its default opener.
	caps := capabilities.New(capabilities.Config{Mediator: mediation.Deny, Opener: []string{"xdg-open"}}).List()
	err := host.Check(ctx, id, caps)
	switch {
	case err == nil:
		return gatewayAccepted, ""
	case errors.Is(err, host.ErrRefused):
		return gatewayRefused, err.Error()
	default:
		return gatewayUnreachable, err.Error()
	}
}

func printStatus(w io.Writer, r statusReport) {
	if !r.Paired {
		fmt.Fprintf(w, "home          %s\nnot paired    %s\n", r.Home, r.Error)
		return
	}
	row := func(label, value string) { fmt.Fprintf(w, "%-13s %s\n", label, value) }
	row("device", textsafe.Clean(r.DeviceID))
	row("name", textsafe.Clean(r.Name))
	row("gateway", textsafe.Clean(r.Gateway))
	row("home", r.Home)
	row("paired", r.PairedAt.Local().Format(time.RFC3339))
	row("key", r.KeyFingerprint)
	row("gateway CA", r.CAFingerprint)
	expiry := r.CertExpiresAt.Local().Format(time.RFC3339)
	if r.CertSecondsLeft > 0 {
		row("certificate", fmt.Sprintf("valid until %s (%s left)", expiry, left(time.Duration(r.CertSecondsLeft)*time.Second)))
	} else {
		row("certificate", "expired at "+expiry+"; run `palyra-node unpair --local-only` and pair again")
	}
	switch r.GatewayState {
	case gatewayAccepted:
		row("connection", "the gateway accepts this node")
	default:
		row("connection", textsafe.Clean(r.GatewayError))
	}
}

// left shows a duration as hours and minutes.
func left(d time.Duration) string {
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}
