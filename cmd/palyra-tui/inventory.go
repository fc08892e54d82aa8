package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/palyra/palyra/internal/plural"
	"github.com/palyra/palyra/internal/textsafe"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
	"github.com/palyra/palyra/tui/termtext"
)

// listPageSize is how many devices `inventory` asks for per call: the server's maximum.
const listPageSize = 1000

// inventoryJSON is the documented shape of `inventory --json`:
//
//	{"devices": [<device>…], "total": 12, "summary": <summary>}
//
// devices are every device that matched, over all pages, in the order asked for; total is
// how many matched. summary counts every device whatever the filters:
//
//	{"devices": 12, "trusted": 10, "online": 8, "degraded": 1, "stale": 1, "offline": 2,
//	 "revoked": 2, "pending_pairings": 1}
type inventoryJSON struct {
	Devices []deviceJSON `json:"devices"`
	Total   uint32       `json:"total"`
	Summary summaryJSON  `json:"summary"`
}

type summaryJSON struct {
	Devices         uint32 `json:"devices"`
	Trusted         uint32 `json:"trusted"`
	Online          uint32 `json:"online"`
	Degraded        uint32 `json:"degraded"`
	Stale           uint32 `json:"stale"`
	Offline         uint32 `json:"offline"`
	Revoked         uint32 `json:"revoked"`
	PendingPairings uint32 `json:"pending_pairings"`
}

// deviceJSON is the documented shape of one device:
//
//	{"id": "…", "name": "kitchen-pi", "platform": "linux/arm64",
//	 "trust": "trusted", "presence": "online", "last_seen_unix_ms": …, "paired_unix_ms": …,
//	 "capabilities": [{"name": "camera.snap", "available": true, "mediated": false}],
//	 "cert_fingerprint": "<hex>", "cert_expires_unix_ms": …, "key_fingerprint": "<hex>",
//	 "approval_id": "ap-4", "revoked_reason": "", "revoked_unix_ms": 0,
//	 "node_version": "0.1.0", "peer": "192.0.2.4:51234"}
//
// trust is trusted, revoked or removed; presence online, degraded, stale or offline; times
// are unix milliseconds, 0 for never.
type deviceJSON struct {
	ID                string           `json:"id"`
	Name              string           `json:"name"`
	Platform          string           `json:"platform"`
	Trust             string           `json:"trust"`
	Presence          string           `json:"presence"`
	LastSeenUnixMs    int64            `json:"last_seen_unix_ms"`
	PairedUnixMs      int64            `json:"paired_unix_ms"`
	Capabilities      []capabilityJSON `json:"capabilities"`
	CertFingerprint   string           `json:"cert_fingerprint"`
	CertExpiresUnixMs int64            `json:"cert_expires_unix_ms"`
	KeyFingerprint    string           `json:"key_fingerprint"`
	ApprovalID        string           `json:"approval_id"`
	RevokedReason     string           `json:"revoked_reason"`
	RevokedUnixMs     int64            `json:"revoked_unix_ms"`
	NodeVersion       string           `json:"node_version"`
	Peer              string           `json:"peer"`
}

type capabilityJSON struct {
	Name      string `json:"name"`
	Available bool   `json:"available"`
	Mediated  bool   `json:"mediated"`
}

// deviceDetailJSON is the documented shape of `inventory show --json`:
//
//	{"device": <device>, "recent_calls": [<call>…], "pairings": [<pairing request>…]}
type deviceDetailJSON struct {
	Device      deviceJSON           `json:"device"`
	RecentCalls []callJSON           `json:"recent_calls"`
	Pairings    []pairingRequestJSON `json:"pairings"`
}

// callJSON is the documented shape of a capability call, and of `inventory invoke --json`:
//
//	{"id": "…", "device_id": "…", "capability": "camera.snap", "state": "succeeded",
//	 "requester": "admin", "created_unix_ms": …, "updated_unix_ms": …, "error": "",
//	 "output": {…}, "input_summary": "{\"quality\":80}"}
//
// state is queued, dispatched, awaiting_mediation, succeeded, failed or timed_out. output is
// the node's JSON result as is (a string if it is not JSON), null when there is none: lists
// of calls leave it out.
type callJSON struct {
	ID            string          `json:"id"`
	DeviceID      string          `json:"device_id"`
	Capability    string          `json:"capability"`
	State         string          `json:"state"`
	Requester     string          `json:"requester"`
	CreatedUnixMs int64           `json:"created_unix_ms"`
	UpdatedUnixMs int64           `json:"updated_unix_ms"`
	Error         string          `json:"error"`
	Output        json.RawMessage `json:"output"`
	InputSummary  string          `json:"input_summary"`
}

// pairingRequestJSON is the documented shape of a pairing request:
//
//	{"id": "…", "device_id": "…", "name": "kitchen-pi", "platform": "linux/arm64",
//	 "key_fingerprint": "<hex>", "peer": "192.0.2.4:51234", "method": "pin", "state": "approved",
//	 "approval_id": "ap-4", "created_unix_ms": …, "expires_unix_ms": …, "reason": ""}
//
// state is pending, approved, denied or expired.
type pairingRequestJSON struct {
	ID             string `json:"id"`
	DeviceID       string `json:"device_id"`
	Name           string `json:"name"`
	Platform       string `json:"platform"`
	KeyFingerprint string `json:"key_fingerprint"`
	Peer           string `json:"peer"`
	Method         string `json:"method"`
	State          string `json:"state"`
	ApprovalID     string `json:"approval_id"`
	CreatedUnixMs  int64  `json:"created_unix_ms"`
	ExpiresUnixMs  int64  `json:"expires_unix_ms"`
	Reason         string `json:"reason"`
}

func toDeviceJSON(d *palyrav1.Device) deviceJSON {
	out := deviceJSON{
		ID: d.GetId(), Name: d.GetName(), Platform: d.GetPlatform(), Trust: d.GetTrust(), Presence: d.GetPresence(),
		LastSeenUnixMs: d.GetLastSeenUnixMs(), PairedUnixMs: d.GetPairedUnixMs(), Capabilities: []capabilityJSON{},
		CertFingerprint: d.GetCertFingerprint(), CertExpiresUnixMs: d.GetCertExpiresUnixMs(),
		KeyFingerprint: d.GetKeyFingerprint(), ApprovalID: d.GetApprovalId(), RevokedReason: d.GetRevokedReason(),
		RevokedUnixMs: d.GetRevokedUnixMs(), NodeVersion: d.GetNodeVersion(), Peer: d.GetPeer(),
	}
	for _, c := range d.GetCapabilities() {
		out.Capabilities = append(out.Capabilities, capabilityJSON{Name: c.GetName(), Available: c.GetAvailable(), Mediated: c.GetMediated()})
	}
	return out
}

func toSummaryJSON(s *palyrav1.InventorySummary) summaryJSON {
	return summaryJSON{
		Devices: s.GetDevices(), Trusted: s.GetTrusted(), Online: s.GetOnline(), Degraded: s.GetDegraded(),
		Stale: s.GetStale(), Offline: s.GetOffline(), Revoked: s.GetRevoked(), PendingPairings: s.GetPendingPairings(),
	}
}

func toCallJSON(c *palyrav1.CapabilityCall) callJSON {
	out := callJSON{
		ID: c.GetId(), DeviceID: c.GetDeviceId(), Capability: c.GetCapability(), State: c.GetState(),
		Requester: c.GetRequester(), CreatedUnixMs: c.GetCreatedUnixMs(), UpdatedUnixMs: c.GetUpdatedUnixMs(),
		Error: c.GetError(), InputSummary: c.GetInputSummary(),
	}
	switch raw := c.GetOutput(); {
	case len(raw) == 0:
	case json.Valid(raw):
		out.Output = json.RawMessage(raw)
	default:
		out.Output, _ = json.Marshal(string(raw))
	}
	return out
}

func toPairingRequestJSON(p *palyrav1.PairingRequest) pairingRequestJSON {
	return pairingRequestJSON{
		ID: p.GetId(), DeviceID: p.GetDeviceId(), Name: p.GetName(), Platform: p.GetPlatform(),
		KeyFingerprint: p.GetKeyFingerprint(), Peer: p.GetPeer(), Method: p.GetMethod(), State: p.GetState(),
		ApprovalID: p.GetApprovalId(), CreatedUnixMs: p.GetCreatedUnixMs(), ExpiresUnixMs: p.GetExpiresUnixMs(),
		Reason: p.GetReason(),
	}
}

func toDetailJSON(d *palyrav1.DeviceDetail) deviceDetailJSON {
	out := deviceDetailJSON{Device: toDeviceJSON(d.GetDevice()), RecentCalls: []callJSON{}, Pairings: []pairingRequestJSON{}}
	for _, c := range d.GetRecentCalls() {
		out.RecentCalls = append(out.RecentCalls, toCallJSON(c))
	}
	for _, p := range d.GetPairings() {
		out.Pairings = append(out.Pairings, toPairingRequestJSON(p))
	}
	return out
}

func newInventoryCmd(g *globals) *cobra.Command {
	var (
		req    palyrav1.ListDevicesRequest
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "inventory",
		Short: "List the paired devices; show, invoke, revoke or remove one",
		Example: "  palyra-tui inventory --presence offline --sort last_seen\n" +
			"  palyra-tui inventory show DEVICE\n" +
			"  palyra-tui inventory invoke DEVICE system.info '{}'",
		Args: noVerb("show, invoke, revoke, remove or capability"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			gw, err := dialGateway(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer gw.Close()
			all, err := listAllDevices(cmd, gw, &req)
			if err != nil {
				return err
			}
			if asJSON {
				out := inventoryJSON{Devices: []deviceJSON{}, Total: all.GetTotal(), Summary: toSummaryJSON(all.GetSummary())}
				for _, d := range all.GetDevices() {
					out.Devices = append(out.Devices, toDeviceJSON(d))
				}
				return writeJSON(cmd.OutOrStdout(), out)
			}
			printInventory(cmd.OutOrStdout(), all, time.Now())
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print JSON (documented in the README)")
	f.StringVar(&req.Filter, "filter", "", "only devices whose id, name or platform contains this (case-insensitive)")
	f.StringVar(&req.Trust, "trust", "", "only devices with this trust: trusted, revoked, removed")
	f.StringVar(&req.Presence, "presence", "", "only devices with this presence: online, degraded, stale, offline")
	f.StringVar(&req.Sort, "sort", "", "sort by name (default), last_seen, presence, trust, platform or cert_expiry")
	f.BoolVar(&req.Descending, "desc", false, "sort in descending order")
	f.BoolVar(&req.IncludeRemoved, "all", false, "list removed devices too")
	cmd.AddCommand(
		newInventoryShowCmd(g),
		newInventoryInvokeCmd(g),
		newInventoryRevokeCmd(g),
		newInventoryRemoveCmd(g),
		newInventoryCapabilityCmd(g),
	)
	return cmd
}

// noVerb accepts no arguments, naming the subcommands when given an unknown one.
func noVerb(verbs string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageError{fmt.Errorf("unknown command %q for %s; want %s", args[0], cmd.CommandPath(), verbs)}
		}
		return nil
	}
}

// listAllDevices pages through ListDevices, returning every matching device in one reply.
func listAllDevices(cmd *cobra.Command, gw *gateway, req *palyrav1.ListDevicesRequest) (*palyrav1.ListDevicesReply, error) {
	req.PageSize = listPageSize
	all := &palyrav1.ListDevicesReply{}
	for {
		ctx, cancel := call(cmd.Context())
		page, err := gw.Inventory.ListDevices(ctx, req)
		cancel()
		if err != nil {
			return nil, gw.fail(err)
		}
		all.Devices = append(all.Devices, page.GetDevices()...)
		all.Total, all.Summary = page.GetTotal(), page.GetSummary()
		next := page.GetNextPageToken()
		if next == "" {
			return all, nil
		}
		if next == req.PageToken {
			return nil, fmt.Errorf("palyrad returned the same page token %q twice", textsafe.Clean(next))
		}
		req.PageToken = next
	}
}

func printInventory(w io.Writer, all *palyrav1.ListDevicesReply, now time.Time) {
	s := all.GetSummary()
	if len(all.GetDevices()) == 0 {
		if s.GetDevices() == 0 {
			fmt.Fprintln(w, "no devices yet: pair one with `palyra-tui pair`")
		} else {
			fmt.Fprintf(w, "no device matches (%d in all)\n", s.GetDevices())
		}
	} else {
		rows := make([][]string, 0, len(all.GetDevices()))
		for _, d := range all.GetDevices() {
			rows = append(rows, []string{
				clean(d.GetId()), clean(d.GetName()), clean(d.GetTrust()), clean(d.GetPresence()),
				ago(d.GetLastSeenUnixMs(), now), clean(d.GetPlatform()), capsText(d.GetCapabilities()),
				certText(d.GetCertExpiresUnixMs(), now),
			})
		}
		writeTable(w, tableWidth(w), []column{
			{header: "ID", min: 8, last: true}, {header: "NAME", min: 8}, {header: "TRUST"}, {header: "PRESENCE"},
			{header: "LAST SEEN"}, {header: "PLATFORM", min: 6}, {header: "CAPS"}, {header: "CERT"},
		}, rows)
	}
	devices := plural.Count(int(s.GetDevices()), "device", "devices")
	if n := uint32(len(all.GetDevices())); n != s.GetDevices() {
		devices = fmt.Sprintf("%d of %s", all.GetTotal(), devices)
	}
	parts := []string{devices}
	for _, c := range []struct {
		n    uint32
		what string
	}{
		{s.GetTrusted(), "trusted"}, {s.GetRevoked(), "revoked"}, {s.GetOnline(), "online"},
		{s.GetDegraded(), "degraded"}, {s.GetStale(), "stale"}, {s.GetOffline(), "offline"},
		{s.GetPendingPairings(), "pairing pending (palyra-tui approvals list)"},
	} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	fmt.Fprintln(w, joinWrapped(parts, " · ", tableWidth(w)))
}

// joinWrapped joins parts with sep, starting a new line where the next part would make the
// line wider than width; width 0 keeps one line.
func joinWrapped(parts []string, sep string, width int) string {
	var b strings.Builder
	line := 0
	for i, p := range parts {
		if i > 0 {
			if width > 0 && line+termtext.Width(sep)+termtext.Width(p) > width {
				b.WriteByte('\n')
				line = 0
			} else {
				b.WriteString(sep)
				line += termtext.Width(sep)
			}
		}
		b.WriteString(p)
		line += termtext.Width(p)
	}
	return b.String()
}

// capsText is available/total capabilities.
func capsText(caps []*palyrav1.Capability) string {
	if len(caps) == 0 {
		return "-"
	}
	n := 0
	for _, c := range caps {
		if c.GetAvailable() {
			n++
		}
	}
	return fmt.Sprintf("%d/%d", n, len(caps))
}

// certText is how long the device's certificate has left.
func certText(expiresMs int64, now time.Time) string {
	return strings.TrimPrefix(until(expiresMs, now), "in ")
}

func newInventoryShowCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one device with its capabilities, recent calls and pairing requests",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			detail, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.DeviceDetail, error) {
				return gw.Inventory.GetDevice(ctx, &palyrav1.GetDeviceRequest{Id: args[0]})
			})
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), toDetailJSON(detail))
			}
			printDevice(cmd.OutOrStdout(), detail, time.Now())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (documented in the README)")
	return cmd
}

func printDevice(w io.Writer, detail *palyrav1.DeviceDetail, now time.Time) {
	d := detail.GetDevice()
	field := func(label, value string) { fmt.Fprintf(w, "%-10s %s\n", label, value) }
	fmt.Fprintf(w, "%s  %s\n", clean(d.GetId()), clean(d.GetName()))
	field("trust", clean(d.GetTrust()))
	field("presence", clean(d.GetPresence())+" · last seen "+ago(d.GetLastSeenUnixMs(), now))
	field("platform", clean(d.GetPlatform())+" · palyra-node "+clean(d.GetNodeVersion())+" · peer "+clean(d.GetPeer()))
	field("paired", stamp(d.GetPairedUnixMs(), now)+" · approval "+clean(d.GetApprovalId()))
	field("cert", clean(d.GetCertFingerprint())+" · expires "+stamp(d.GetCertExpiresUnixMs(), now))
	field("key", clean(d.GetKeyFingerprint()))
	if d.GetRevokedUnixMs() != 0 {
		field("revoked", stamp(d.GetRevokedUnixMs(), now)+": "+clean(d.GetRevokedReason()))
	}
	if caps := d.GetCapabilities(); len(caps) > 0 {
		fmt.Fprintln(w)
		rows := make([][]string, 0, len(caps))
		for _, c := range caps {
			rows = append(rows, []string{clean(c.GetName()), yesNo(c.GetAvailable()), yesNo(c.GetMediated())})
		}
		writeTable(w, tableWidth(w), []column{{header: "CAPABILITY", min: 12}, {header: "AVAILABLE"}, {header: "MEDIATED"}}, rows)
	}
	if calls := detail.GetRecentCalls(); len(calls) > 0 {
		fmt.Fprintln(w, "\nRecent calls")
		rows := make([][]string, 0, len(calls))
		for _, c := range calls {
			note := c.GetError()
			if note == "" {
				note = c.GetInputSummary()
			}
			rows = append(rows, []string{clean(c.GetId()), clean(c.GetCapability()), clean(c.GetState()),
				clean(c.GetRequester()), ago(c.GetCreatedUnixMs(), now), clean(note)})
		}
		writeTable(w, tableWidth(w), []column{{header: "ID", min: 8, last: true}, {header: "CAPABILITY", min: 10}, {header: "STATE"},
			{header: "REQUESTER", min: 6}, {header: "WHEN"}, {header: "ERROR / INPUT", min: 10}}, rows)
	}
	if pairings := detail.GetPairings(); len(pairings) > 0 {
		fmt.Fprintln(w, "\nPairing requests")
		rows := make([][]string, 0, len(pairings))
		for _, p := range pairings {
			rows = append(rows, []string{clean(p.GetId()), clean(p.GetState()), clean(p.GetMethod()),
				clean(p.GetPeer()), ago(p.GetCreatedUnixMs(), now), clean(p.GetApprovalId()), clean(p.GetReason())})
		}
		writeTable(w, tableWidth(w), []column{{header: "ID", min: 8, last: true}, {header: "STATE"}, {header: "METHOD"},
			{header: "PEER", min: 8}, {header: "WHEN"}, {header: "APPROVAL"}, {header: "REASON", min: 8}}, rows)
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// invokeGrace is how much longer than the call's own timeout the client waits for palyrad
// to report the outcome.
const invokeGrace = 10 * time.Second

// defaultInvokeTimeout is the server's default call timeout.
const defaultInvokeTimeout = 30 * time.Second

func newInventoryInvokeCmd(g *globals) *cobra.Command {
	var (
		maxOutput uint32
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "invoke ID CAPABILITY [JSON]",
		Short: "Run a capability on a connected node and print its output (exit 1 unless it succeeded)",
		Example: "  palyra-tui inventory invoke kitchen-pi system.info\n" +
			"  palyra-tui inventory invoke kitchen-pi camera.snap '{\"quality\":80}' --timeout 1m",
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.RangeArgs(2, 3)(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &palyrav1.InvokeRequest{DeviceId: args[0], Capability: args[1], MaxOutputBytes: maxOutput}
			if len(args) == 3 {
				if !json.Valid([]byte(args[2])) {
					return usageError{fmt.Errorf("the input %q is not JSON; quote it for the shell, e.g. '{\"key\":1}'", args[2])}
				}
				req.Input = []byte(args[2])
			}
			var err error
			if req.TimeoutMs, err = durationMs(cmd, "timeout"); err != nil {
				return err
			}
			gw, err := dialGateway(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer gw.Close()
			wait := defaultInvokeTimeout
			if req.TimeoutMs > 0 {
				wait = time.Duration(req.TimeoutMs) * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), wait+invokeGrace)
			defer cancel()
			result, err := gw.Nodes.Invoke(ctx, req)
			if err != nil {
				return gw.fail(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if err := writeJSON(out, toCallJSON(result)); err != nil {
					return err
				}
			} else {
				printOutput(out, result.GetOutput())
			}
			if result.GetState() != "succeeded" {
				return &exitError{code: exitFailure, err: fmt.Errorf("call %s %s: %s",
					textsafe.Clean(result.GetId()), textsafe.Clean(result.GetState()), clean(result.GetError()))}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.Duration("timeout", 0, "how long the node may take, 1s to 120s (default 30s)")
	f.Uint32Var(&maxOutput, "max-output", 0, "largest output in bytes the node may return, at most 1 MiB (default 64 KiB)")
	f.BoolVar(&asJSON, "json", false, "print the call as JSON (documented in the README)")
	return cmd
}

// printOutput prints a call's output for a terminal: JSON indented, every line sanitized.
func printOutput(w io.Writer, output []byte) { printIndented(w, output, "") }

// printIndented is printOutput with prefix before every line.
func printIndented(w io.Writer, output []byte, prefix string) {
	if len(output) == 0 {
		return
	}
	var indented bytes.Buffer
	if json.Indent(&indented, output, "", "  ") == nil {
		output = indented.Bytes()
	}
	for line := range strings.SplitSeq(strings.TrimRight(string(output), "\n"), "\n") {
		fmt.Fprintln(w, prefix+strings.TrimRight(textsafe.Clean(line), " "))
	}
}

func newInventoryRevokeCmd(g *globals) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Distrust a device: its certificate is refused and its connection closed at once",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return deviceAction(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.Device, error) {
				return gw.Nodes.Revoke(ctx, &palyrav1.RevokeRequest{DeviceId: args[0], Reason: reason})
			}, func(d *palyrav1.Device) string {
				return "revoked: " + clean(d.GetRevokedReason())
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the device record and the audit journal")
	return cmd
}

func newInventoryRemoveCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "remove ID",
		Short: "Forget a device (revoking it first if it is trusted)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return deviceAction(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.Device, error) {
				return gw.Nodes.Remove(ctx, &palyrav1.RemoveRequest{DeviceId: args[0]})
			}, func(*palyrav1.Device) string { return "removed" })
		},
	}
}

func newInventoryCapabilityCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "capability ID NAME on|off",
		Short: "Make a device's capability available or unavailable to callers",
		Args:  exactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			var available bool
			switch args[2] {
			case "on":
				available = true
			case "off":
			default:
				return usageError{fmt.Errorf("capability %s: want on or off, not %q", args[1], args[2])}
			}
			return deviceAction(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.Device, error) {
				return gw.Nodes.SetCapabilityAvailability(ctx, &palyrav1.SetCapabilityAvailabilityRequest{
					DeviceId: args[0], Capability: args[1], Available: available})
			}, func(*palyrav1.Device) string {
				return "capability " + textsafe.Clean(args[1]) + " " + args[2]
			})
		},
	}
}

// deviceAction runs one call that changes a device and prints "ID (name): what happened".
func deviceAction(cmd *cobra.Command, g *globals, act func(context.Context, *gateway) (*palyrav1.Device, error), done func(*palyrav1.Device) string) error {
	d, err := callGateway(cmd, g, act)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s (%s): %s\n", clean(d.GetId()), clean(d.GetName()), done(d))
	return nil
}
