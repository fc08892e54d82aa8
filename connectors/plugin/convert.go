package plugin

import (
	"time"

	"github.com/palyra/palyra/connectors"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// The conversions between the Go contract (package connectors) and its wire form. Each
// enum has one table, read both ways.

var availabilities = map[connectors.Availability]palyrav1.ConnectorAvailability{
	connectors.Supported:        palyrav1.ConnectorAvailability_CONNECTOR_AVAILABILITY_SUPPORTED,
	connectors.InternalTestOnly: palyrav1.ConnectorAvailability_CONNECTOR_AVAILABILITY_INTERNAL_TEST_ONLY,
}

var capabilities = map[connectors.Capability]palyrav1.ConnectorCapability{
	connectors.CapInbound: palyrav1.ConnectorCapability_CONNECTOR_CAPABILITY_INBOUND,
	connectors.CapEdit:    palyrav1.ConnectorCapability_CONNECTOR_CAPABILITY_EDIT,
	connectors.CapDelete:  palyrav1.ConnectorCapability_CONNECTOR_CAPABILITY_DELETE,
	connectors.CapReact:   palyrav1.ConnectorCapability_CONNECTOR_CAPABILITY_REACT,
	connectors.CapRead:    palyrav1.ConnectorCapability_CONNECTOR_CAPABILITY_READ,
}

var fieldTypes = map[connectors.FieldType]palyrav1.ConfigFieldType{
	connectors.FieldString: palyrav1.ConfigFieldType_CONFIG_FIELD_TYPE_STRING,
	connectors.FieldInt:    palyrav1.ConfigFieldType_CONFIG_FIELD_TYPE_INT,
	connectors.FieldBool:   palyrav1.ConfigFieldType_CONFIG_FIELD_TYPE_BOOL,
	connectors.FieldSecret: palyrav1.ConfigFieldType_CONFIG_FIELD_TYPE_SECRET,
}

var readinesses = map[connectors.Readiness]palyrav1.ConnectorReadiness{
	connectors.Ready:             palyrav1.ConnectorReadiness_CONNECTOR_READINESS_READY,
	connectors.Starting:          palyrav1.ConnectorReadiness_CONNECTOR_READINESS_STARTING,
	connectors.MissingCredential: palyrav1.ConnectorReadiness_CONNECTOR_READINESS_MISSING_CREDENTIAL,
	connectors.AuthFailed:        palyrav1.ConnectorReadiness_CONNECTOR_READINESS_AUTH_FAILED,
	connectors.Misconfigured:     palyrav1.ConnectorReadiness_CONNECTOR_READINESS_MISCONFIGURED,
}

var outcomes = map[connectors.OutcomeKind]palyrav1.SendOutcome{
	connectors.Delivered: palyrav1.SendOutcome_SEND_OUTCOME_DELIVERED,
	connectors.Retry:     palyrav1.SendOutcome_SEND_OUTCOME_RETRY,
	connectors.Permanent: palyrav1.SendOutcome_SEND_OUTCOME_PERMANENT,
}

var retryClasses = map[connectors.RetryClass]palyrav1.RetryClass{
	connectors.RateLimited: palyrav1.RetryClass_RETRY_CLASS_RATE_LIMIT,
	connectors.Transient:   palyrav1.RetryClass_RETRY_CLASS_TRANSIENT,
	connectors.Restarting:  palyrav1.RetryClass_RETRY_CLASS_RESTARTING,
}

var mutationKinds = map[connectors.MutationKind]palyrav1.MutationKind{
	connectors.Edit:   palyrav1.MutationKind_MUTATION_KIND_EDIT,
	connectors.Delete: palyrav1.MutationKind_MUTATION_KIND_DELETE,
	connectors.React:  palyrav1.MutationKind_MUTATION_KIND_REACT,
}

// back reads a table the other way; an unknown wire value becomes the zero Go value.
func back[G comparable, W comparable](table map[G]W, w W) G {
	for g, have := range table {
		if have == w {
			return g
		}
	}
	var zero G
	return zero
}

func unixMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromUnixMS(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func descriptionToWire(d connectors.Description) *palyrav1.ConnectorDescription {
	w := &palyrav1.ConnectorDescription{
		Kind: d.Kind, Version: d.Version, Availability: availabilities[d.Availability],
		MaxTextRunes: int32(d.MaxTextRunes),
	}
	for _, c := range d.Capabilities {
		w.Capabilities = append(w.Capabilities, capabilities[c])
	}
	for _, f := range d.Config {
		w.Config = append(w.Config, &palyrav1.ConfigField{
			Name: f.Name, Label: f.Label, Help: f.Help, Type: fieldTypes[f.Type], Required: f.Required,
			Default: f.Default, MaxLen: int32(f.MaxLen),
		})
	}
	return w
}

func descriptionFromWire(w *palyrav1.ConnectorDescription) connectors.Description {
	d := connectors.Description{
		Kind: w.GetKind(), Version: w.GetVersion(), Availability: back(availabilities, w.GetAvailability()),
		MaxTextRunes: int(w.GetMaxTextRunes()),
	}
	for _, c := range w.GetCapabilities() {
		if g := back(capabilities, c); g != "" {
			d.Capabilities = append(d.Capabilities, g)
		}
	}
	for _, f := range w.GetConfig() {
		d.Config = append(d.Config, connectors.ConfigField{
			Name: f.GetName(), Label: f.GetLabel(), Help: f.GetHelp(), Type: back(fieldTypes, f.GetType()),
			Required: f.GetRequired(), Default: f.GetDefault(), MaxLen: int(f.GetMaxLen()),
		})
	}
	return d
}

func statusToWire(s connectors.Status) *palyrav1.InstanceStatus {
	return &palyrav1.InstanceStatus{Readiness: readinesses[s.Readiness], Detail: s.Detail, Facts: s.Facts}
}

func statusFromWire(w *palyrav1.InstanceStatus) connectors.Status {
	return connectors.Status{Readiness: back(readinesses, w.GetReadiness()), Detail: w.GetDetail(), Facts: w.GetFacts()}
}

func eventToWire(e connectors.Event) *palyrav1.ConnectorEvent {
	w := &palyrav1.ConnectorEvent{InstanceId: e.InstanceID}
	switch e.Kind {
	case connectors.EventInbound:
		in := e.Inbound
		w.Event = &palyrav1.ConnectorEvent_Inbound{Inbound: &palyrav1.InboundMessage{
			EnvelopeId: in.EnvelopeID, ConversationId: in.ConversationID, ThreadId: in.ThreadID,
			SenderId: in.SenderID, SenderDisplay: in.SenderDisplay, Text: in.Text, NativeId: in.NativeID,
			ReceivedUnixMs: unixMS(in.ReceivedAt), Direct: in.Direct,
		}}
	case connectors.EventStatus:
		w.Event = &palyrav1.ConnectorEvent_Status{Status: statusToWire(e.Status)}
	}
	return w
}

// eventFromWire returns false for an event of a kind this side does not know.
func eventFromWire(w *palyrav1.ConnectorEvent) (connectors.Event, bool) {
	e := connectors.Event{InstanceID: w.GetInstanceId()}
	switch ev := w.GetEvent().(type) {
	case *palyrav1.ConnectorEvent_Inbound:
		in := ev.Inbound
		e.Kind = connectors.EventInbound
		e.Inbound = connectors.Inbound{
			EnvelopeID: in.GetEnvelopeId(), ConversationID: in.GetConversationId(), ThreadID: in.GetThreadId(),
			SenderID: in.GetSenderId(), SenderDisplay: in.GetSenderDisplay(), Text: in.GetText(),
			NativeID: in.GetNativeId(), ReceivedAt: fromUnixMS(in.GetReceivedUnixMs()), Direct: in.GetDirect(),
		}
	case *palyrav1.ConnectorEvent_Status:
		e.Kind = connectors.EventStatus
		e.Status = statusFromWire(ev.Status)
	default:
		return e, false
	}
	return e, true
}

func outgoingToWire(m connectors.Outgoing) *palyrav1.SendRequest {
	return &palyrav1.SendRequest{
		InstanceId: m.InstanceID, IdempotencyKey: m.IdempotencyKey, ConversationId: m.ConversationID,
		ThreadId: m.ThreadID, ReplyTo: m.ReplyTo, Text: m.Text, Attempt: int32(m.Attempt),
	}
}

func outgoingFromWire(w *palyrav1.SendRequest) connectors.Outgoing {
	return connectors.Outgoing{
		InstanceID: w.GetInstanceId(), IdempotencyKey: w.GetIdempotencyKey(), ConversationID: w.GetConversationId(),
		ThreadID: w.GetThreadId(), ReplyTo: w.GetReplyTo(), Text: w.GetText(), Attempt: int(w.GetAttempt()),
	}
}

func outcomeToWire(o connectors.Outcome) *palyrav1.SendReply {
	return &palyrav1.SendReply{
		Outcome: outcomes[o.Kind], NativeId: o.NativeID, RetryClass: retryClasses[o.Class],
		RetryAfterMs: o.RetryAfter.Milliseconds(), Reason: o.Reason, Readiness: readinesses[o.Readiness],
	}
}

func outcomeFromWire(w *palyrav1.SendReply) connectors.Outcome {
	return connectors.Outcome{
		Kind: back(outcomes, w.GetOutcome()), NativeID: w.GetNativeId(), Class: back(retryClasses, w.GetRetryClass()),
		RetryAfter: time.Duration(w.GetRetryAfterMs()) * time.Millisecond, Reason: w.GetReason(),
		Readiness: back(readinesses, w.GetReadiness()),
	}
}

func mutationToWire(m connectors.Mutation) *palyrav1.MutateRequest {
	return &palyrav1.MutateRequest{
		InstanceId: m.InstanceID, Kind: mutationKinds[m.Kind], ConversationId: m.ConversationID,
		MessageId: m.MessageID, Text: m.Text, Emoji: m.Emoji,
	}
}

func mutationFromWire(w *palyrav1.MutateRequest) connectors.Mutation {
	return connectors.Mutation{
		InstanceID: w.GetInstanceId(), Kind: back(mutationKinds, w.GetKind()), ConversationID: w.GetConversationId(),
		MessageID: w.GetMessageId(), Text: w.GetText(), Emoji: w.GetEmoji(),
	}
}

func messageToWire(m connectors.Message) *palyrav1.ChannelMessage {
	return &palyrav1.ChannelMessage{
		Id: m.ID, ConversationId: m.ConversationID, SenderId: m.SenderID, SenderDisplay: m.SenderDisplay,
		Text: m.Text, CreatedUnixMs: unixMS(m.CreatedAt), EditedUnixMs: unixMS(m.EditedAt), ByConnector: m.ByConnector,
	}
}

func messageFromWire(w *palyrav1.ChannelMessage) connectors.Message {
	return connectors.Message{
		ID: w.GetId(), ConversationID: w.GetConversationId(), SenderID: w.GetSenderId(),
		SenderDisplay: w.GetSenderDisplay(), Text: w.GetText(), CreatedAt: fromUnixMS(w.GetCreatedUnixMs()),
		EditedAt: fromUnixMS(w.GetEditedUnixMs()), ByConnector: w.GetByConnector(),
	}
}

func readToWire(r connectors.ReadRequest) *palyrav1.ReadRequest {
	return &palyrav1.ReadRequest{
		InstanceId: r.InstanceID, ConversationId: r.ConversationID, MessageId: r.MessageID, Before: r.Before,
		Limit: int32(r.Limit),
	}
}

func readFromWire(w *palyrav1.ReadRequest) connectors.ReadRequest {
	return connectors.ReadRequest{
		InstanceID: w.GetInstanceId(), ConversationID: w.GetConversationId(), MessageID: w.GetMessageId(),
		Before: w.GetBefore(), Limit: int(w.GetLimit()),
	}
}
