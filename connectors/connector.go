// Package connectors is the provider-neutral contract between palyrad and its channel
// connectors: what a provider is asked to do and what it answers, in Go types. A provider
// implements Provider; it runs in a plugin process (connectors/plugin serves it over go-plugin)
// and palyrad talks to it through the same interface (connectors/plugin's client implements
// Provider too), so the outbox and the tests drive an in-process provider and a plugin
// process alike. The language-neutral form of this contract is proto/palyra/v1/connector.proto.
package connectors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Provider is one kind of connector (echo, discord, …). One provider serves every instance
// of its kind; each call names the instance. Calls may come concurrently.
type Provider interface {
	// Describe says what the provider is and can do. It needs no instance.
	Describe(ctx context.Context) (Description, error)
	// Validate checks an instance's configuration without starting anything. A bad field is
	// a *ConfigError; any other error is the provider's own failure.
	Validate(ctx context.Context, config map[string]string) error
	// Start brings an instance up (or reconfigures a running one) and returns its status.
	// A provider that cannot work with what it was given (a missing or refused credential, a
	// bad setting) returns a Status with that Readiness, not an error: an error means the
	// call itself failed.
	Start(ctx context.Context, inst Instance) (Status, error)
	// Stop ends an instance; its events stop. Stopping an unknown instance is not an error.
	Stop(ctx context.Context, instanceID string) error
	// Events is the provider's single stream of inbound messages and status changes for
	// all its instances; it ends when ctx is done. It is called once per provider process.
	Events(ctx context.Context) (<-chan Event, error)
	// Send delivers one outbound message. It must be idempotent per IdempotencyKey: a
	// message sent again with the same key must not appear twice. An error means the call
	// itself failed (a dead plugin, a broken stream) and is retried like Outcome Retry.
	Send(ctx context.Context, msg Outgoing) (Outcome, error)
	// Mutate edits, deletes or reacts to a message, if the provider can (see Capabilities).
	Mutate(ctx context.Context, m Mutation) (MutationResult, error)
	// Read returns messages of a conversation, newest first.
	Read(ctx context.Context, r ReadRequest) ([]Message, error)
	// Status reports an instance's readiness as the provider sees it now.
	Status(ctx context.Context, instanceID string) (Status, error)
}

// BatchSender is a Provider that can also deliver many messages in one call. It is
// optional: palyrad sends through Send to a provider that is not one, and to one whose
// SendBatch answers ErrUnsupported (a plugin that does not implement the call). Implement
// it when one call for many messages is much cheaper than as many calls; the answer comes
// when the last message is settled, so a provider whose sends each wait on a network (a
// chat service's HTTP API) gains little and makes fast messages wait for slow ones.
type BatchSender interface {
	// SendBatch delivers msgs (at most MaxBatch), each as Send would, idempotent per
	// IdempotencyKey, and returns one outcome per message in msgs' order. The messages are
	// of different conversations (palyrad sends a conversation's messages one at a time),
	// so they may go in any order or side by side. A message whose send fails the way an
	// error of Send would is a Retry of class Transient with the error as its reason. An
	// error for the whole call means no outcome is known: every message is tried again,
	// with the same key.
	SendBatch(ctx context.Context, msgs []Outgoing) ([]Outcome, error)
}

// MaxBatch is the most messages one SendBatch carries.
const MaxBatch = 1024

// Availability says who may use a provider.
type Availability string

const (
	Supported        Availability = "supported"
	InternalTestOnly Availability = "internal_test_only"
)

// Capability is an optional thing a provider can do.
type Capability string

const (
	CapInbound Capability = "inbound" // it emits inbound messages
	CapEdit    Capability = "edit"
	CapDelete  Capability = "delete"
	CapReact   Capability = "react"
	CapRead    Capability = "read"
)

// Description is what Describe returns.
type Description struct {
	Kind         string // lower case, [a-z0-9_-], the key instances are registered under
	Version      string
	Availability Availability
	Capabilities []Capability
	// MaxTextRunes is the longest text one message may carry on this provider; palyrad
	// splits longer text before it is queued (each part its own envelope). 0 means no limit.
	MaxTextRunes int
	// Config describes the settings an instance takes, for forms and validation.
	Config []ConfigField
}

// Can reports whether the provider has capability c.
func (d Description) Can(c Capability) bool {
	for _, have := range d.Capabilities {
		if have == c {
			return true
		}
	}
	return false
}

// FieldType is how a config field is entered and checked.
type FieldType string

const (
	FieldString FieldType = "string"
	FieldInt    FieldType = "int"
	FieldBool   FieldType = "bool"
	// FieldSecret names a secret in palyrad's secret store (never the secret itself); the
	// secret's value reaches the provider in Instance.Credentials under the field's name.
	FieldSecret FieldType = "secret"
)

// ConfigField is one setting of an instance.
type ConfigField struct {
	Name     string // [a-z0-9_], the key in Instance.Config
	Label    string
	Help     string
	Type     FieldType
	Required bool
	Default  string
	MaxLen   int // 0: the contract's limit, MaxConfigValue
}

// Limits every provider and palyrad share.
const (
	MaxIDBytes          = 128      // instance ids, envelope ids, idempotency keys
	MaxTargetBytes      = 256      // conversation, thread, sender and message ids
	MaxTextBytes        = 64 << 10 // one outbound or inbound message's text
	MaxConfigValue      = 1024
	MaxConfigFields     = 32
	MaxCredentialBytes  = 8 << 10
	MaxReasonBytes      = 1024 // outcome reasons, last errors
	MaxReadLimit        = 100
	MaxDisplayNameBytes = 256
)

// Instance is one configured connector of a provider's kind.
type Instance struct {
	ID     string            // "<kind>:<name>", e.g. "discord:ops"
	Config map[string]string // validated against Description.Config
	// Credentials holds the values of the instance's secret fields, by field name. They are
	// handed over this call only: never in argv, the environment or a log.
	Credentials map[string][]byte
}

// Readiness is whether an instance can work with what it was given.
type Readiness string

const (
	Ready             Readiness = "ready"
	Starting          Readiness = "starting" // connecting, not yet known to work
	MissingCredential Readiness = "missing_credential"
	AuthFailed        Readiness = "auth_failed"
	Misconfigured     Readiness = "misconfigured"
)

// Status is an instance's state as its provider sees it.
type Status struct {
	Readiness Readiness
	Detail    string            // why, in a sentence, when not Ready
	Facts     map[string]string // small provider facts for the operator (bot user, gateway state)
}

// Outgoing is one message to deliver.
type Outgoing struct {
	InstanceID string
	// IdempotencyKey is the same every time this message is tried, across retries, plugin
	// restarts and palyrad restarts: "<instance>:<envelope>".
	IdempotencyKey string
	ConversationID string
	ThreadID       string
	ReplyTo        string // a native message id to answer, or ""
	Text           string
	Attempt        int // 1 for the first try
}

// OutcomeKind is what became of a Send.
type OutcomeKind string

const (
	Delivered OutcomeKind = "delivered"
	Retry     OutcomeKind = "retry"
	Permanent OutcomeKind = "permanent"
)

// RetryClass says why a send should be tried again.
type RetryClass string

const (
	RateLimited RetryClass = "rate_limit"
	Transient   RetryClass = "transient"
	Restarting  RetryClass = "restarting"
)

// Outcome is a provider's answer to Send.
type Outcome struct {
	Kind     OutcomeKind
	NativeID string // Delivered: the provider's id of the message
	// Retry: why, and how long the provider asks to wait (0: the outbox's backoff).
	Class      RetryClass
	RetryAfter time.Duration
	Reason     string // Retry and Permanent: what happened, for the operator
	// Readiness, when set, is what the outcome says of the instance: a refused token makes
	// it AuthFailed.
	Readiness Readiness
}

// EventKind tells Event's fields apart.
type EventKind string

const (
	EventInbound EventKind = "inbound"
	EventStatus  EventKind = "status"
)

// Event is an inbound message or a status change of an instance.
type Event struct {
	Kind       EventKind
	InstanceID string
	Inbound    Inbound // EventInbound
	Status     Status  // EventStatus
}

// Inbound is a message someone sent to an instance.
type Inbound struct {
	// EnvelopeID identifies the message for dedupe: the same message seen twice (a
	// reconnect, a replay) must carry the same id.
	EnvelopeID     string
	ConversationID string
	ThreadID       string
	SenderID       string // an id, never a display name, is the sender's identity
	SenderDisplay  string // for display only
	Text           string
	NativeID       string
	ReceivedAt     time.Time
	Direct         bool // a direct message, not a channel
}

// MutationKind is what Mutate does.
type MutationKind string

const (
	Edit   MutationKind = "edit"
	Delete MutationKind = "delete"
	React  MutationKind = "react"
)

// Mutation changes a message that exists.
type Mutation struct {
	InstanceID     string
	Kind           MutationKind
	ConversationID string
	MessageID      string
	Text           string // Edit: the new text
	Emoji          string // React
}

// MutationResult is what Mutate did.
type MutationResult struct {
	Done    bool // false: refused or nothing to do, see Reason
	Reason  string
	Message *Message // the message after the change, when the provider knows it
}

// ReadRequest asks for messages of a conversation.
type ReadRequest struct {
	InstanceID     string
	ConversationID string
	MessageID      string // one exact message, or "" for the newest
	Before         string // a message id to page back from
	Limit          int    // 1..MaxReadLimit
}

// Message is a message as the provider has it.
type Message struct {
	ID             string
	ConversationID string
	SenderID       string
	SenderDisplay  string
	Text           string
	CreatedAt      time.Time
	EditedAt       time.Time
	ByConnector    bool // sent by this instance
}

// ConfigError says which config fields are wrong and why.
type ConfigError struct {
	Fields []FieldError
}

// FieldError is one wrong field.
type FieldError struct {
	Field   string
	Message string
}

func (e *ConfigError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid config: " + strings.Join(parts, "; ")
}

// ErrUnsupported is returned for a call the provider does not implement (see Capabilities).
var ErrUnsupported = errors.New("not supported by this connector")

// ErrUnknownInstance is returned for a call naming an instance the provider has not started.
var ErrUnknownInstance = errors.New("instance not started")

// CheckConfig validates config against fields: unknown keys, missing required ones, types
// and lengths. Providers call it first in Validate; palyrad calls it before saving.
func CheckConfig(fields []ConfigField, config map[string]string) error {
	var errs []FieldError
	known := map[string]ConfigField{}
	for _, f := range fields {
		known[f.Name] = f
	}
	if len(config) > MaxConfigFields {
		errs = append(errs, FieldError{Field: "config", Message: fmt.Sprintf("%d fields; at most %d", len(config), MaxConfigFields)})
	}
	for k, v := range config {
		f, ok := known[k]
		if !ok {
			errs = append(errs, FieldError{Field: k, Message: "unknown field"})
			continue
		}
		limit := f.MaxLen
		if limit <= 0 || limit > MaxConfigValue {
			limit = MaxConfigValue
		}
		if len(v) > limit {
			errs = append(errs, FieldError{Field: k, Message: fmt.Sprintf("%d bytes; at most %d", len(v), limit)})
			continue
		}
		switch f.Type {
		case FieldInt:
			if _, err := strconv.Atoi(v); err != nil {
				errs = append(errs, FieldError{Field: k, Message: "not a whole number"})
			}
		case FieldBool:
			if v != "true" && v != "false" {
				errs = append(errs, FieldError{Field: k, Message: `want "true" or "false"`})
			}
		}
	}
	for _, f := range fields {
		if f.Required && config[f.Name] == "" && f.Default == "" {
			errs = append(errs, FieldError{Field: f.Name, Message: "required"})
		}
	}
	if len(errs) == 0 {
		return nil
	}
	slices.SortFunc(errs, func(a, b FieldError) int { return strings.Compare(a.Field, b.Field) })
	return &ConfigError{Fields: errs}
}
