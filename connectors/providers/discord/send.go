package discord

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/disgoorg/disgo/discord"
	"github.com/disgoorg/disgo/rest"
	"github.com/disgoorg/snowflake/v2"

	"github.com/palyra/palyra/connectors"
	"github.com/palyra/palyra/internal/textsafe"
)

// nonceLen is the longest nonce Discord takes.
const nonceLen = 25

// nonce derives a message's nonce from its idempotency key: 25 base-32 characters of its
// SHA-256 (125 bits), the same on every try.
func nonce(key string) string {
	sum := sha256.Sum256([]byte(key))
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:]))[:nonceLen]
}

func (p *Provider) Send(ctx context.Context, m connectors.Outgoing) (connectors.Outcome, error) {
	in, err := p.instance(m.InstanceID)
	if err != nil {
		return connectors.Outcome{}, err
	}
	if in.authFailed() {
		// Each refused request counts towards Discord's ban; do not send until restarted.
		return connectors.Outcome{Kind: connectors.Permanent, Readiness: connectors.AuthFailed,
			Reason: "Discord refused the bot token earlier; store a good one and restart the connector"}, nil
	}
	target := cmpOr(m.ThreadID, m.ConversationID)
	ch, err := parseID(target)
	if err != nil {
		return permanent("conversation %q is not a Discord channel id", textsafe.Clean(truncate(target, 64))), nil
	}
	switch n := utf8.RuneCountInString(m.Text); {
	case strings.TrimSpace(m.Text) == "":
		return permanent("Discord does not take an empty message"), nil
	case n > maxText:
		return permanent("the message has %d characters; Discord takes %d", n, maxText), nil
	}
	create := discord.MessageCreate{
		Content: m.Text, Nonce: nonce(m.IdempotencyKey), EnforceNonce: true,
		// No @everyone, @here or role pings from an agent's text; users it names are pinged.
		AllowedMentions: &discord.AllowedMentions{Parse: []discord.AllowedMentionType{discord.AllowedMentionTypeUsers}, Roles: []snowflake.ID{}, Users: []snowflake.ID{}, RepliedUser: true},
	}
	if m.ReplyTo != "" {
		id, err := parseID(m.ReplyTo)
		if err != nil {
			return permanent("reply_to %q is not a Discord message id", textsafe.Clean(truncate(m.ReplyTo, 64))), nil
		}
		create.MessageReference = &discord.MessageReference{MessageID: &id}
	}
	msg, err := in.channels.CreateMessage(ch, create, rest.WithCtx(ctx))
	if err != nil {
		return in.outcome(in.fail(err)), nil
	}
	if msg == nil || msg.ID == 0 {
		return connectors.Outcome{Kind: connectors.Retry, Class: connectors.Transient, Reason: "Discord answered without a message id"}, nil
	}
	return connectors.Outcome{Kind: connectors.Delivered, NativeID: msg.ID.String()}, nil
}

func permanent(format string, args ...any) connectors.Outcome {
	return connectors.Outcome{Kind: connectors.Permanent, Reason: fmt.Sprintf(format, args...)}
}

// outcome maps a failed send to what the outbox does with it.
func (in *instance) outcome(f failure) connectors.Outcome {
	switch {
	case f.limited || f.status == http.StatusTooManyRequests:
		return connectors.Outcome{Kind: connectors.Retry, Class: connectors.RateLimited, RetryAfter: f.retryAfter, Reason: f.reason}
	case f.status == http.StatusUnauthorized:
		return connectors.Outcome{Kind: connectors.Permanent, Readiness: connectors.AuthFailed, Reason: "Discord refused the bot token: " + f.reason}
	case f.status >= 500 || f.status == 0:
		return connectors.Outcome{Kind: connectors.Retry, Class: connectors.Transient, Reason: f.reason}
	}
	// 400, 403 (missing permissions in that channel), 404 and the like: sending again will
	// not help.
	return connectors.Outcome{Kind: connectors.Permanent, Reason: f.reason}
}

// failure is what went wrong with a request, for the operator and the outcome.
type failure struct {
	status     int // Discord's HTTP status; 0: no answer
	code       int // Discord's JSON error code
	reason     string
	retryAfter time.Duration // how long a 429 or the limiter asks to wait
	limited    bool          // the limiter refused; nothing was sent
}

// fail classifies err and marks the instance AuthFailed if Discord refused the token.
func (in *instance) fail(err error) failure {
	f := classify(err)
	if f.status == http.StatusUnauthorized {
		in.refused(f.reason)
	}
	return f
}

func classify(err error) failure {
	if le, ok := errors.AsType[*limitedError](err); ok {
		return failure{limited: true, retryAfter: le.wait, reason: le.Error()}
	}
	if re, ok := errors.AsType[rest.Error](err); ok && re.Response != nil {
		f := failure{status: re.Response.StatusCode, code: int(re.Code)}
		f.reason = fmt.Sprintf("HTTP %d", f.status)
		if msg := textsafe.Clean(re.Message); msg != "" {
			f.reason += ": " + truncate(msg, 200)
		}
		if re.Code != 0 {
			f.reason += fmt.Sprintf(" (code %d)", re.Code)
		}
		if detail := fieldError(re.Errors); detail != "" {
			f.reason += ": " + detail
		}
		if f.status == http.StatusTooManyRequests {
			var body struct {
				RetryAfter float64 `json:"retry_after"`
				Global     bool    `json:"global"`
			}
			json.Unmarshal(re.RsBody, &body)
			after, ok := duration(body.RetryAfter)
			if !ok || after == 0 {
				after, _ = seconds(re.Response.Header.Get("Retry-After"))
			}
			f.retryAfter = after
			if body.Global {
				f.reason += " (global)"
			}
		}
		return f
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return failure{reason: "no answer from Discord in time: " + err.Error()}
	}
	return failure{reason: truncate(textsafe.Clean("cannot reach Discord: "+err.Error()), connectors.MaxReasonBytes)}
}

// fieldError finds the first field error in Discord's "errors" object, as "field: message".
func fieldError(raw json.RawMessage) string {
	var tree map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &tree) != nil {
		return ""
	}
	for _, k := range slices.Sorted(maps.Keys(tree)) {
		if k == "_errors" {
			var errs []struct {
				Message string `json:"message"`
			}
			if json.Unmarshal(tree[k], &errs) == nil && len(errs) > 0 {
				return truncate(textsafe.Clean(errs[0].Message), 200)
			}
			continue
		}
		if inner := fieldError(tree[k]); inner != "" {
			return textsafe.Clean(truncate(k, 64)) + ": " + inner
		}
	}
	return ""
}
