package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// connectorJSON is the documented shape of one connector (`channels list --json` prints an
// array of them, `channels show --json` one):
//
//	{"id": "echo:test", "kind": "echo", "config": {…}, "enabled": true, "paused": false,
//	 "readiness": "ready", "detail": "", "plugin": {"pid": 4242, "started_unix_ms": …,
//	 "restarts": 0, "state": "running", "last_error": ""}, "queued": 0, "in_flight": 0,
//	 "dead_letters": 0, "delivered": 12, "retried": 1, "dead_lettered": 0, "inbound": 3,
//	 "duplicates": 0, "inbox": 0, "last_error": "", "last_error_unix_ms": 0}
//
// readiness is ready, starting, missing_credential, auth_failed or misconfigured; the
// plugin's state running, starting or backoff.
type connectorJSON struct {
	ID              string            `json:"id"`
	Kind            string            `json:"kind"`
	Config          map[string]string `json:"config"`
	Enabled         bool              `json:"enabled"`
	Paused          bool              `json:"paused"`
	Readiness       string            `json:"readiness"`
	Detail          string            `json:"detail"`
	Plugin          pluginJSON        `json:"plugin"`
	Queued          int64             `json:"queued"`
	InFlight        int64             `json:"in_flight"`
	DeadLetters     int64             `json:"dead_letters"`
	Delivered       uint64            `json:"delivered"`
	Retried         uint64            `json:"retried"`
	DeadLettered    uint64            `json:"dead_lettered"`
	Inbound         uint64            `json:"inbound"`
	Duplicates      uint64            `json:"duplicates"`
	Inbox           uint64            `json:"inbox"`
	LastError       string            `json:"last_error"`
	LastErrorUnixMs int64             `json:"last_error_unix_ms"`
}

type pluginJSON struct {
	PID           int32  `json:"pid"`
	StartedUnixMs int64  `json:"started_unix_ms"`
	Restarts      uint32 `json:"restarts"`
	State         string `json:"state"`
	LastError     string `json:"last_error"`
}

func toConnectorJSON(c *palyrav1.Connector) connectorJSON {
	cfg := c.GetConfig()
	if cfg == nil {
		cfg = map[string]string{}
	}
	p := c.GetPlugin()
	return connectorJSON{
		ID: c.GetId(), Kind: c.GetKind(), Config: cfg, Enabled: c.GetEnabled(), Paused: c.GetPaused(),
		Readiness: c.GetReadiness(), Detail: c.GetDetail(),
		Plugin: pluginJSON{PID: p.GetPid(), StartedUnixMs: p.GetStartedUnixMs(), Restarts: p.GetRestarts(), State: p.GetState(), LastError: p.GetLastError()},
		Queued: c.GetQueued(), InFlight: c.GetInFlight(), DeadLetters: c.GetDeadLetters(), Delivered: c.GetDelivered(),
		Retried: c.GetRetried(), DeadLettered: c.GetDeadLettered(), Inbound: c.GetInbound(), Duplicates: c.GetDuplicates(),
		Inbox: c.GetInbox(), LastError: c.GetLastError(), LastErrorUnixMs: c.GetLastErrorUnixMs(),
	}
}

func newChannelsCmd(g *globals) *cobra.Command {
	verbs := "list, kinds, show, add, remove, enable, disable, pause, resume, drain, restart, send, test, inject, dead, replay, discard, events, inbox, read, edit, delete, react, attach, plugins, trust or untrust"
	cmd := &cobra.Command{
		Use:   "channels",
		Short: "Channel connectors (Echo, Discord): add, watch, send, replay dead letters, attach an agent",
		Args:  noVerb(verbs),
		RunE: func(*cobra.Command, []string) error {
			return usageError{errors.New("channels needs one of " + verbs)}
		},
	}
	cmd.AddCommand(
		newChannelsListCmd(g), newChannelsKindsCmd(g), newChannelsShowCmd(g), newChannelsAddCmd(g), newChannelsRemoveCmd(g),
	)
	for _, action := range []string{"enable", "disable", "pause", "resume", "drain", "restart"} {
		cmd.AddCommand(newChannelsControlCmd(g, action))
	}
	cmd.AddCommand(
		newChannelsSendCmd(g), newChannelsTestCmd(g), newChannelsInjectCmd(g), newChannelsDeadCmd(g),
		newChannelsDeadLetterCmd(g, "replay"), newChannelsDeadLetterCmd(g, "discard"), newChannelsEventsCmd(g),
		newChannelsInboxCmd(g), newChannelsReadCmd(g), newChannelsAttachCmd(g),
		newChannelsPluginsCmd(g), newChannelsTrustCmd(g), newChannelsUntrustCmd(g),
	)
	for _, kind := range []string{"edit", "delete", "react"} {
		cmd.AddCommand(newChannelsMutateCmd(g, kind))
	}
	return cmd
}

func newChannelsListCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the connectors with their plugin, readiness and queue",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			reply, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.ListConnectorsReply, error) {
				return gw.Channels.ListConnectors(ctx, &palyrav1.ListConnectorsRequest{})
			})
			if err != nil {
				return err
			}
			if asJSON {
				list := make([]connectorJSON, 0, len(reply.GetConnectors()))
				for _, c := range reply.GetConnectors() {
					list = append(list, toConnectorJSON(c))
				}
				return writeJSON(cmd.OutOrStdout(), list)
			}
			printConnectors(cmd.OutOrStdout(), reply, time.Now())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (documented in the README)")
	return cmd
}

func printConnectors(w io.Writer, reply *palyrav1.ListConnectorsReply, now time.Time) {
	if len(reply.GetConnectors()) == 0 {
		fmt.Fprintln(w, "no connectors; add one with `palyra-tui channels add echo:test`")
		return
	}
	var rows [][]string
	for _, c := range reply.GetConnectors() {
		rows = append(rows, []string{
			clean(c.GetId()), connectorState(c), pluginCell(c.GetPlugin(), now),
			fmt.Sprint(c.GetQueued()), fmt.Sprint(c.GetDelivered()), fmt.Sprint(c.GetRetried()), fmt.Sprint(c.GetDeadLetters()),
			fmt.Sprint(c.GetInbox()), clean(c.GetLastError()),
		})
	}
	writeTable(w, tableWidth(w), []column{{header: "ID", min: 10, last: true}, {header: "STATE", min: 8}, {header: "PLUGIN", min: 10},
		{header: "QUEUED"}, {header: "DELIVERED"}, {header: "RETRIED"}, {header: "DEAD"}, {header: "INBOX"}, {header: "LAST ERROR", min: 10}}, rows)
	if reply.GetAgentAttached() {
		fmt.Fprintln(w, "an agent is attached")
	} else {
		fmt.Fprintln(w, "no agent attached: inbound messages wait in the inbox (`palyra-tui channels attach --echo` answers them)")
	}
}

// connectorState is readiness with enabled and paused folded in: "ready", "paused",
// "disabled", "auth_failed: …".
func connectorState(c *palyrav1.Connector) string {
	switch {
	case !c.GetEnabled():
		return "disabled"
	case c.GetReadiness() != "ready" && c.GetDetail() != "":
		return clean(c.GetReadiness() + ": " + c.GetDetail())
	case c.GetPaused():
		return "paused"
	}
	return clean(c.GetReadiness())
}

func pluginCell(p *palyrav1.PluginProcess, now time.Time) string {
	if p.GetPid() == 0 {
		return clean(p.GetState())
	}
	s := fmt.Sprintf("pid %d up %s", p.GetPid(), since(p.GetStartedUnixMs(), now))
	if p.GetRestarts() > 0 {
		s += fmt.Sprintf(" restarts %d", p.GetRestarts())
	}
	return s
}

// since is how long ago a proto time was, short: "4m", "2h".
func since(ms int64, now time.Time) string {
	return strings.TrimSuffix(ago(ms, now), " ago")
}

func newChannelsKindsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "kinds",
		Short: "List the installed connector kinds and the settings each takes",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			reply, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.ListKindsReply, error) {
				return gw.Channels.ListKinds(ctx, &palyrav1.ListKindsRequest{})
			})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, k := range reply.GetKinds() {
				if k.GetError() != "" {
					fmt.Fprintf(w, "%s: its plugin failed: %s\n", clean(k.GetKind()), clean(k.GetError()))
					continue
				}
				fmt.Fprintf(w, "%s %s (%s; %s)\n", clean(k.GetKind()), clean(k.GetVersion()), clean(k.GetAvailability()), clean(strings.Join(k.GetCapabilities(), ", ")))
				for _, s := range k.GetSettings() {
					req := ""
					if s.GetRequired() {
						req = ", required"
					}
					def := ""
					if s.GetDefault() != "" {
						def = ", default " + clean(s.GetDefault())
					}
					fmt.Fprintf(w, "  --set %s=…  (%s%s%s) %s\n", clean(s.GetName()), clean(s.GetType()), req, def, clean(s.GetHelp()))
				}
			}
			return nil
		},
	}
}

func newChannelsShowCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one connector and its latest events",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			type shown struct {
				c      *palyrav1.Connector
				events []*palyrav1.ConnectorEventLine
			}
			got, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (shown, error) {
				c, err := gw.Channels.GetConnector(ctx, &palyrav1.GetConnectorRequest{Id: args[0]})
				if err != nil {
					return shown{}, err
				}
				ev, err := gw.Channels.ListConnectorEvents(ctx, &palyrav1.ListConnectorEventsRequest{Id: args[0], PageSize: 10})
				return shown{c, ev.GetEvents()}, err
			})
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), toConnectorJSON(got.c))
			}
			printConnector(cmd.OutOrStdout(), got.c, got.events, time.Now())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (documented in the README)")
	return cmd
}

func printConnector(w io.Writer, c *palyrav1.Connector, events []*palyrav1.ConnectorEventLine, now time.Time) {
	fmt.Fprintf(w, "%s  %s\n", clean(c.GetId()), connectorState(c))
	fmt.Fprintf(w, "plugin     %s\n", pluginCell(c.GetPlugin(), now))
	if e := c.GetPlugin().GetLastError(); e != "" {
		fmt.Fprintf(w, "           last exit: %s\n", clean(e))
	}
	fmt.Fprintf(w, "queue      %d queued, %d in flight, %d dead letters\n", c.GetQueued(), c.GetInFlight(), c.GetDeadLetters())
	fmt.Fprintf(w, "delivered  %d (retried %d, dead-lettered %d), last %s\n", c.GetDelivered(), c.GetRetried(), c.GetDeadLettered(), ago(c.GetLastDeliveryUnixMs(), now))
	fmt.Fprintf(w, "inbound    %d (duplicates %d), %d waiting for an agent, last %s\n", c.GetInbound(), c.GetDuplicates(), c.GetInbox(), ago(c.GetLastInboundUnixMs(), now))
	if c.GetLastError() != "" {
		fmt.Fprintf(w, "last error %s (%s)\n", clean(c.GetLastError()), ago(c.GetLastErrorUnixMs(), now))
	}
	for _, k := range slices.Sorted(maps.Keys(c.GetConfig())) {
		fmt.Fprintf(w, "config     %s=%s\n", clean(k), clean(c.GetConfig()[k]))
	}
	for _, k := range slices.Sorted(maps.Keys(c.GetFacts())) {
		fmt.Fprintf(w, "fact       %s=%s\n", clean(k), clean(c.GetFacts()[k]))
	}
	if len(events) > 0 {
		fmt.Fprintln(w, "events (newest first):")
	}
	for _, e := range events {
		fmt.Fprintf(w, "  %s  %-5s %s  %s\n", time.UnixMilli(e.GetUnixMs()).Format("15:04:05"), clean(e.GetLevel()), clean(e.GetKind()), clean(e.GetMessage()))
	}
}

func newChannelsAddCmd(g *globals) *cobra.Command {
	var settings []string
	cmd := &cobra.Command{
		Use:   "add KIND:NAME [--set KEY=VALUE…]",
		Short: "Add a connector; its plugin checks the settings first",
		Example: "  palyra-tui channels add echo:test --set reflect=true\n" +
			"  palyra-tui secrets set discord-bot < token.txt\n" +
			"  palyra-tui channels add discord:ops --set token=discord-bot",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			config := map[string]string{}
			for _, s := range settings {
				k, v, ok := strings.Cut(s, "=")
				if !ok || k == "" {
					return usageError{fmt.Errorf("--set %q: want KEY=VALUE (see `palyra-tui channels kinds`)", s)}
				}
				config[k] = v
			}
			c, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.Connector, error) {
				return gw.Channels.AddConnector(ctx, &palyrav1.AddConnectorRequest{Id: args[0], Config: config})
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "connector %s added (%s)\n", clean(c.GetId()), connectorState(c))
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&settings, "set", nil, "a setting KEY=VALUE (repeatable); a secret setting names a secret of `palyra-tui secrets`")
	return cmd
}

func newChannelsRemoveCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a connector with its queue, dead letters, inbox and events",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.RemoveConnectorReply, error) {
				return gw.Channels.RemoveConnector(ctx, &palyrav1.RemoveConnectorRequest{Id: args[0]})
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "connector %s removed\n", clean(args[0]))
			return nil
		},
	}
}

var controlHelp = map[string]string{
	"enable":  "Enable a connector: it starts, sends and takes inbound messages",
	"disable": "Disable a connector: it stops; its queue waits",
	"pause":   "Pause a connector's queue; inbound messages still arrive",
	"resume":  "Resume a paused queue",
	"drain":   "Send everything queued now, paused or waiting on a retry",
	"restart": "Start a connector again in its plugin, reading its secrets anew",
}

func newChannelsControlCmd(g *globals, action string) *cobra.Command {
	return &cobra.Command{
		Use:   action + " ID",
		Short: controlHelp[action],
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.Connector, error) {
				return gw.Channels.ControlConnector(ctx, &palyrav1.ControlConnectorRequest{Id: args[0], Action: action})
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s (%d queued)\n", clean(c.GetId()), connectorState(c), c.GetQueued())
			return nil
		},
	}
}

// messageText is a command's text argument, or standard input for "-".
func messageText(cmd *cobra.Command, arg string) (string, error) {
	if arg != "-" {
		return arg, nil
	}
	b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1<<20+1))
	if err != nil {
		return "", err
	}
	if len(b) > 1<<20 {
		return "", usageError{errors.New("the message on standard input is over 1 MiB")}
	}
	return strings.TrimRight(string(b), "\n"), nil
}

func newChannelsSendCmd(g *globals) *cobra.Command {
	var envelope, thread, replyTo string
	cmd := &cobra.Command{
		Use:   "send ID CONVERSATION TEXT|-",
		Short: "Queue a message; it is on disk when this returns (- reads the text from stdin)",
		Args:  exactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			text, err := messageText(cmd, args[2])
			if err != nil {
				return err
			}
			reply, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.ChannelSendReply, error) {
				return gw.Channels.Send(ctx, &palyrav1.ChannelSendRequest{Id: args[0], ConversationId: args[1], Text: text, EnvelopeId: envelope, ThreadId: thread, ReplyTo: replyTo})
			})
			if err != nil {
				return err
			}
			for _, m := range reply.GetMessages() {
				note := "queued"
				if m.GetDuplicate() {
					note = "already queued or sent before; not queued again"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "message %s %s\n", clean(m.GetEnvelopeId()), note)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&envelope, "id", "", "the message's id, for idempotency: the same id is queued once")
	cmd.Flags().StringVar(&thread, "thread", "", "a thread to post in")
	cmd.Flags().StringVar(&replyTo, "reply-to", "", "a message id to answer")
	return cmd
}

func newChannelsTestCmd(g *globals) *cobra.Command {
	var conversation string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "test ID",
		Short: "Send a test message and wait until it is delivered, retried or dead-lettered",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			gw, err := dialGateway(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer gw.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), wait+callTimeout)
			defer cancel()
			before, err := gw.Channels.GetConnector(ctx, &palyrav1.GetConnectorRequest{Id: args[0]})
			if err != nil {
				return gw.fail(err)
			}
			started := time.Now()
			text := "palyra test message " + started.Format(time.RFC3339)
			if _, err := gw.Channels.Send(ctx, &palyrav1.ChannelSendRequest{Id: args[0], ConversationId: conversation, Text: text}); err != nil {
				return gw.fail(err)
			}
			for {
				c, err := gw.Channels.GetConnector(ctx, &palyrav1.GetConnectorRequest{Id: args[0]})
				if err != nil {
					return gw.fail(err)
				}
				switch {
				case c.GetDelivered() > before.GetDelivered():
					fmt.Fprintf(cmd.OutOrStdout(), "delivered to %s on %s in %s\n", clean(conversation), clean(args[0]), time.Since(started).Round(time.Millisecond))
					return nil
				case c.GetDeadLettered() > before.GetDeadLettered():
					return fmt.Errorf("the test message was dead-lettered: %s", clean(c.GetLastError()))
				case time.Since(started) > wait:
					return fmt.Errorf("the test message is not delivered after %s (%s, %d queued, last error: %s)", wait, connectorState(c), c.GetQueued(), clean(c.GetLastError()))
				}
				time.Sleep(50 * time.Millisecond)
			}
		},
	}
	cmd.Flags().StringVar(&conversation, "to", "test", "the conversation (channel id) to send to")
	cmd.Flags().DurationVar(&wait, "wait", 30*time.Second, "how long to wait for the delivery")
	return cmd
}

func newChannelsInjectCmd(g *globals) *cobra.Command {
	var conversation, sender, envelope string
	cmd := &cobra.Command{
		Use:   "inject ID TEXT|-",
		Short: "Put a test inbound message through the path a real one takes (dedupe, inbox, agent)",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			text, err := messageText(cmd, args[1])
			if err != nil {
				return err
			}
			reply, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.InjectReply, error) {
				return gw.Channels.Inject(ctx, &palyrav1.InjectRequest{Id: args[0], ConversationId: conversation, SenderId: sender, Text: text, EnvelopeId: envelope})
			})
			if err != nil {
				return err
			}
			if reply.GetDuplicate() {
				fmt.Fprintln(cmd.OutOrStdout(), "seen before: dropped as a duplicate")
				return nil
			}
			fmt.Fprintln(cmd.OutOrStdout(), "taken in")
			return nil
		},
	}
	cmd.Flags().StringVar(&conversation, "conversation", "test", "the conversation it comes from")
	cmd.Flags().StringVar(&sender, "sender", "operator", "the sender's id")
	cmd.Flags().StringVar(&envelope, "id", "", "its envelope id, for dedupe (default: a new one)")
	return cmd
}

func newChannelsDeadCmd(g *globals) *cobra.Command {
	var asJSON bool
	var before uint64
	cmd := &cobra.Command{
		Use:     "dead ID",
		Aliases: []string{"dead-letters"},
		Short:   "List a connector's dead letters, newest first (a page of 50; --before pages on)",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reply, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.ListDeadLettersReply, error) {
				return gw.Channels.ListDeadLetters(ctx, &palyrav1.ListDeadLettersRequest{Id: args[0], Before: before})
			})
			if err != nil {
				return err
			}
			if asJSON {
				type deadJSON struct {
					Seq          uint64 `json:"seq"`
					EnvelopeID   string `json:"envelope_id"`
					Conversation string `json:"conversation_id"`
					Text         string `json:"text"`
					Attempts     int32  `json:"attempts"`
					Reason       string `json:"reason"`
					DeadUnixMs   int64  `json:"dead_unix_ms"`
				}
				list := []deadJSON{}
				for _, d := range reply.GetDeadLetters() {
					list = append(list, deadJSON{d.GetSeq(), d.GetEnvelopeId(), d.GetConversationId(), d.GetText(), d.GetAttempts(), d.GetReason(), d.GetDeadUnixMs()})
				}
				return writeJSON(cmd.OutOrStdout(), list)
			}
			w := cmd.OutOrStdout()
			if len(reply.GetDeadLetters()) == 0 {
				fmt.Fprintf(w, "no dead letters on %s\n", clean(args[0]))
				return nil
			}
			var rows [][]string
			now := time.Now()
			for _, d := range reply.GetDeadLetters() {
				rows = append(rows, []string{fmt.Sprint(d.GetSeq()), clean(d.GetConversationId()), fmt.Sprint(d.GetAttempts()), ago(d.GetDeadUnixMs(), now), clean(d.GetReason()), clean(d.GetText())})
			}
			writeTable(w, tableWidth(w), []column{{header: "SEQ", last: true}, {header: "TO", min: 6}, {header: "TRIES"}, {header: "DIED"},
				{header: "REASON", min: 16}, {header: "TEXT", min: 10}}, rows)
			if reply.GetNext() != 0 {
				fmt.Fprintf(w, "more: --before %d\n", reply.GetNext())
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (documented in the README)")
	cmd.Flags().Uint64Var(&before, "before", 0, "page back from this seq")
	return cmd
}

func newChannelsDeadLetterCmd(g *globals, verb string) *cobra.Command {
	short := "Queue a dead letter again, from its first try"
	if verb == "discard" {
		short = "Delete a dead letter"
	}
	return &cobra.Command{
		Use:   verb + " ID SEQ",
		Short: short,
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			seq, err := strconv.ParseUint(args[1], 10, 64)
			if err != nil {
				return usageError{fmt.Errorf("SEQ %q: want the number `palyra-tui channels dead %s` shows", args[1], args[0])}
			}
			_, err = callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.Connector, error) {
				req := &palyrav1.DeadLetterRequest{Id: args[0], Seq: seq}
				if verb == "discard" {
					return gw.Channels.DiscardDeadLetter(ctx, req)
				}
				return gw.Channels.ReplayDeadLetter(ctx, req)
			})
			if err != nil {
				return err
			}
			done := map[string]string{"replay": "queued again", "discard": "discarded"}[verb]
			fmt.Fprintf(cmd.OutOrStdout(), "dead letter %d of %s %s\n", seq, clean(args[0]), done)
			return nil
		},
	}
}

func newChannelsEventsCmd(g *globals) *cobra.Command {
	var asJSON bool
	var before uint64
	cmd := &cobra.Command{
		Use:     "events ID",
		Aliases: []string{"logs"},
		Short:   "A connector's event log, newest first (a page of 50; --before pages on)",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reply, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.ListConnectorEventsReply, error) {
				return gw.Channels.ListConnectorEvents(ctx, &palyrav1.ListConnectorEventsRequest{Id: args[0], Before: before})
			})
			if err != nil {
				return err
			}
			if asJSON {
				type eventJSON struct {
					Seq     uint64 `json:"seq"`
					UnixMs  int64  `json:"unix_ms"`
					Level   string `json:"level"`
					Kind    string `json:"kind"`
					Message string `json:"message"`
				}
				list := []eventJSON{}
				for _, e := range reply.GetEvents() {
					list = append(list, eventJSON{e.GetSeq(), e.GetUnixMs(), e.GetLevel(), e.GetKind(), e.GetMessage()})
				}
				return writeJSON(cmd.OutOrStdout(), list)
			}
			w := cmd.OutOrStdout()
			for _, e := range reply.GetEvents() {
				fmt.Fprintf(w, "%s  %-5s %s  %s\n", time.UnixMilli(e.GetUnixMs()).Format(time.DateTime), clean(e.GetLevel()), clean(e.GetKind()), clean(e.GetMessage()))
			}
			if reply.GetNext() != 0 {
				fmt.Fprintf(w, "more: --before %d\n", reply.GetNext())
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (documented in the README)")
	cmd.Flags().Uint64Var(&before, "before", 0, "page back from this seq")
	return cmd
}

// inboundJSON is one inbound message (`channels inbox --json`); sender_display is for
// display only, sender_id is the identity.
type inboundJSON struct {
	Seq            uint64 `json:"seq"`
	EnvelopeID     string `json:"envelope_id"`
	ConversationID string `json:"conversation_id"`
	ThreadID       string `json:"thread_id"`
	SenderID       string `json:"sender_id"`
	SenderDisplay  string `json:"sender_display"`
	Text           string `json:"text"`
	NativeID       string `json:"native_id"`
	ReceivedUnixMs int64  `json:"received_unix_ms"`
	Direct         bool   `json:"direct"`
}

// messageJSON is one message read back through a connector (`channels read --json`).
type messageJSON struct {
	ID             string `json:"id"`
	ConversationID string `json:"conversation_id"`
	SenderID       string `json:"sender_id"`
	SenderDisplay  string `json:"sender_display"`
	Text           string `json:"text"`
	CreatedUnixMs  int64  `json:"created_unix_ms"`
	EditedUnixMs   int64  `json:"edited_unix_ms"`
	ByConnector    bool   `json:"by_connector"`
}

func newChannelsInboxCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inbox ID",
		Short: "Inbound messages waiting for an agent, newest first",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reply, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.ListInboxReply, error) {
				return gw.Channels.ListInbox(ctx, &palyrav1.ListInboxRequest{Id: args[0]})
			})
			if err != nil {
				return err
			}
			if asJSON {
				list := []inboundJSON{}
				for _, m := range reply.GetMessages() {
					list = append(list, inboundJSON{m.GetSeq(), m.GetEnvelopeId(), m.GetConversationId(), m.GetThreadId(), m.GetSenderId(),
						m.GetSenderDisplay(), m.GetText(), m.GetNativeId(), m.GetReceivedUnixMs(), m.GetDirect()})
				}
				return writeJSON(cmd.OutOrStdout(), list)
			}
			w := cmd.OutOrStdout()
			if len(reply.GetMessages()) == 0 {
				fmt.Fprintf(w, "nothing waits on %s\n", clean(args[0]))
			}
			for _, m := range reply.GetMessages() {
				fmt.Fprintf(w, "%d  %s  %s (%s) in %s: %s\n", m.GetSeq(), time.UnixMilli(m.GetReceivedUnixMs()).Format(time.DateTime),
					clean(m.GetSenderDisplay()), clean(m.GetSenderId()), clean(m.GetConversationId()), clean(m.GetText()))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (documented in the README)")
	return cmd
}

func newChannelsReadCmd(g *globals) *cobra.Command {
	var asJSON bool
	var limit int32
	cmd := &cobra.Command{
		Use:   "read ID CONVERSATION",
		Short: "Read a conversation's latest messages through the connector",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			reply, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.ReadMessagesReply, error) {
				return gw.Channels.ReadMessages(ctx, &palyrav1.ReadMessagesRequest{Id: args[0], ConversationId: args[1], Limit: limit})
			})
			if err != nil {
				return err
			}
			msgs := reply.GetMessages()
			if asJSON {
				list := []messageJSON{}
				for i := len(msgs) - 1; i >= 0; i-- {
					m := msgs[i]
					list = append(list, messageJSON{m.GetId(), m.GetConversationId(), m.GetSenderId(), m.GetSenderDisplay(), m.GetText(),
						m.GetCreatedUnixMs(), m.GetEditedUnixMs(), m.GetByConnector()})
				}
				return writeJSON(cmd.OutOrStdout(), list)
			}
			w := cmd.OutOrStdout()
			for i := len(msgs) - 1; i >= 0; i-- { // oldest first, as a chat reads
				m := msgs[i]
				fmt.Fprintf(w, "%s  %s  %s: %s\n", clean(m.GetId()), time.UnixMilli(m.GetCreatedUnixMs()).Format(time.DateTime), clean(m.GetSenderDisplay()), clean(m.GetText()))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON, oldest first (documented in the README)")
	cmd.Flags().Int32Var(&limit, "limit", 20, "how many messages (at most 100)")
	return cmd
}

func newChannelsMutateCmd(g *globals, kind string) *cobra.Command {
	use, nargs, short := kind+" ID CONVERSATION MESSAGE", 3, "Delete a message (held for the operator's approval)"
	switch kind {
	case "edit":
		use, nargs, short = kind+" ID CONVERSATION MESSAGE TEXT|-", 4, "Edit a message (an old one, or someone else's, is held for approval)"
	case "react":
		use, nargs, short = kind+" ID CONVERSATION MESSAGE EMOJI", 4, "React to a message"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  exactArgs(nargs),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &palyrav1.ChannelMutateRequest{Id: args[0], Kind: kind, ConversationId: args[1], MessageId: args[2]}
			switch kind {
			case "edit":
				text, err := messageText(cmd, args[3])
				if err != nil {
					return err
				}
				req.Text = text
			case "react":
				req.Emoji = args[3]
			}
			reply, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.ChannelMutateReply, error) {
				return gw.Channels.Mutate(ctx, req)
			})
			if err != nil {
				return err
			}
			switch reply.GetState() {
			case "held":
				fmt.Fprintf(cmd.OutOrStdout(), "held for approval %s: it runs once allowed (`palyra-tui approvals approve %s`, or the Approvals pane)\n",
					clean(reply.GetApprovalId()), clean(reply.GetApprovalId()))
			case "done":
				fmt.Fprintf(cmd.OutOrStdout(), "%s done\n", kind)
			default:
				return fmt.Errorf("%s refused: %s", kind, clean(reply.GetReason()))
			}
			return nil
		},
	}
}

func newChannelsAttachCmd(g *globals) *cobra.Command {
	var echo bool
	cmd := &cobra.Command{
		Use:   "attach --echo",
		Short: "Attach the reference agent: print each inbound message and, with --echo, answer it",
		Long: "attach holds the agent's Conversations stream (one agent at a time): every inbound message,\n" +
			"those kept while no agent was attached first, is printed as a line and acknowledged; with\n" +
			"--echo each is answered with \"echo: <text>\" in its conversation. Ctrl-C detaches.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			defer interruptible(cmd)()
			gw, err := dialGateway(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer gw.Close()
			err = runAgent(cmd.Context(), gw.Channels, cmd.OutOrStdout(), echo)
			if err != nil && cmd.Context().Err() == nil {
				return gw.fail(err)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&echo, "echo", false, "answer every message with its own text")
	return cmd
}

// runAgent is the reference agent: it acknowledges each inbound message and, with echo,
// answers it.
func runAgent(ctx context.Context, ch palyrav1.ChannelsServiceClient, w io.Writer, echo bool) error {
	stream, err := ch.Conversations(ctx)
	if err != nil {
		return err
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			return err
		}
		switch k := ev.GetKind().(type) {
		case *palyrav1.ConversationEvent_Inbound:
			m := k.Inbound
			fmt.Fprintf(w, "%s %s %s (%s): %s\n", clean(m.GetConnectorId()), clean(m.GetConversationId()), clean(m.GetSenderDisplay()), clean(m.GetSenderId()), clean(m.GetText()))
			if echo {
				reply := &palyrav1.ChannelSendRequest{
					Id: m.GetConnectorId(), ConversationId: m.GetConversationId(), ThreadId: m.GetThreadId(), ReplyTo: m.GetNativeId(),
					Text: "echo: " + m.GetText(), EnvelopeId: "echo-" + m.GetEnvelopeId(),
				}
				if err := stream.Send(&palyrav1.AgentMessage{Kind: &palyrav1.AgentMessage_Reply{Reply: reply}}); err != nil {
					return err
				}
			}
			ack := &palyrav1.AgentAck{ConnectorId: m.GetConnectorId(), Seq: m.GetSeq()}
			if err := stream.Send(&palyrav1.AgentMessage{Kind: &palyrav1.AgentMessage_Ack{Ack: ack}}); err != nil {
				return err
			}
		case *palyrav1.ConversationEvent_Refused:
			fmt.Fprintf(w, "refused: %s\n", clean(k.Refused))
		}
	}
}
