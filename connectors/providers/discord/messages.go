package discord

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/disgoorg/disgo/discord"
	"github.com/disgoorg/disgo/rest"
	"github.com/disgoorg/snowflake/v2"

	"github.com/palyra/palyra/connectors"
	"github.com/palyra/palyra/internal/textsafe"
)

const maxEmojiBytes = 128

func (p *Provider) Mutate(ctx context.Context, m connectors.Mutation) (connectors.MutationResult, error) {
	in, err := p.instance(m.InstanceID)
	if err != nil {
		return connectors.MutationResult{}, err
	}
	ch, msgID, err := locate(m.ConversationID, m.MessageID)
	if err != nil {
		return connectors.MutationResult{Reason: err.Error()}, nil
	}
	switch m.Kind {
	case connectors.Edit:
		if n := utf8.RuneCountInString(m.Text); strings.TrimSpace(m.Text) == "" || n > maxText {
			return connectors.MutationResult{Reason: fmt.Sprintf("the new text has %d characters; Discord takes 1 to %d", n, maxText)}, nil
		}
		text := m.Text
		msg, err := in.channels.UpdateMessage(ch, msgID, discord.MessageUpdate{Content: &text}, rest.WithCtx(ctx))
		if err != nil {
			return in.mutationFailed(err)
		}
		out := in.message(*msg)
		return connectors.MutationResult{Done: true, Message: &out}, nil
	case connectors.Delete:
		if err := in.channels.DeleteMessage(ch, msgID, rest.WithCtx(ctx)); err != nil {
			return in.mutationFailed(err)
		}
		return connectors.MutationResult{Done: true}, nil
	case connectors.React:
		emoji := strings.TrimSpace(m.Emoji)
		if emoji == "" || len(emoji) > maxEmojiBytes || strings.ContainsAny(emoji, "/?#") {
			return connectors.MutationResult{Reason: "not an emoji: want a Unicode emoji or a custom one as name:id"}, nil
		}
		// disgo puts the emoji into the path as it is; it must be escaped there.
		if err := in.channels.AddReaction(ch, msgID, url.PathEscape(emoji), rest.WithCtx(ctx)); err != nil {
			return in.mutationFailed(err)
		}
		return connectors.MutationResult{Done: true}, nil
	}
	return connectors.MutationResult{}, fmt.Errorf("%w: %q", connectors.ErrUnsupported, m.Kind)
}

// mutationFailed turns a failed request into a refusal (Discord said no) or an error (it
// could not be asked, or asks to wait: the caller may try again).
func (in *instance) mutationFailed(err error) (connectors.MutationResult, error) {
	f := in.fail(err)
	switch {
	case f.status == http.StatusNotFound:
		return connectors.MutationResult{Reason: "no such message (" + f.reason + ")"}, nil
	case f.status >= 400 && f.status < 500 && f.status != http.StatusTooManyRequests:
		return connectors.MutationResult{Reason: "Discord refused: " + f.reason}, nil
	}
	return connectors.MutationResult{}, errors.New("discord: " + f.reason)
}

func locate(conversation, message string) (snowflake.ID, snowflake.ID, error) {
	ch, err := parseID(conversation)
	if err != nil {
		return 0, 0, fmt.Errorf("conversation %q is not a Discord channel id", textsafe.Clean(truncate(conversation, 64)))
	}
	msg, err := parseID(message)
	if err != nil {
		return 0, 0, fmt.Errorf("%q is not a Discord message id", textsafe.Clean(truncate(message, 64)))
	}
	return ch, msg, nil
}

func (p *Provider) Read(ctx context.Context, r connectors.ReadRequest) ([]connectors.Message, error) {
	in, err := p.instance(r.InstanceID)
	if err != nil {
		return nil, err
	}
	ch, err := parseID(r.ConversationID)
	if err != nil {
		return nil, fmt.Errorf("conversation %q is not a Discord channel id", textsafe.Clean(truncate(r.ConversationID, 64)))
	}
	if r.MessageID != "" {
		id, err := parseID(r.MessageID)
		if err != nil {
			return nil, nil
		}
		msg, err := in.channels.GetMessage(ch, id, rest.WithCtx(ctx))
		if err != nil {
			f := in.fail(err)
			if f.status == http.StatusNotFound {
				return nil, nil
			}
			return nil, errors.New("discord: " + f.reason)
		}
		return []connectors.Message{in.message(*msg)}, nil
	}
	var before snowflake.ID
	if r.Before != "" {
		if before, err = parseID(r.Before); err != nil {
			return nil, fmt.Errorf("%q is not a Discord message id", textsafe.Clean(truncate(r.Before, 64)))
		}
	}
	msgs, err := in.channels.GetMessages(ch, 0, before, 0, min(max(r.Limit, 1), connectors.MaxReadLimit), rest.WithCtx(ctx))
	if err != nil {
		return nil, errors.New("discord: " + in.fail(err).reason)
	}
	out := make([]connectors.Message, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, in.message(m))
	}
	return out, nil
}

// message is a Discord message in the contract's terms, its text made safe and bounded.
func (in *instance) message(m discord.Message) connectors.Message {
	out := connectors.Message{
		ID: m.ID.String(), ConversationID: m.ChannelID.String(), SenderID: m.Author.ID.String(),
		SenderDisplay: displayName(m.Author.Username, m.Author.GlobalName, memberNick(m.Member)),
		Text:          messageText(m), CreatedAt: m.CreatedAt, ByConnector: m.Author.ID == in.botID,
	}
	if m.EditedTimestamp != nil {
		out.EditedAt = *m.EditedTimestamp
	}
	return out
}

func memberNick(m *discord.Member) *string {
	if m == nil {
		return nil
	}
	return m.Nick
}

// messageText is what the connector shows of a message: its content, or a note of what it
// carries instead.
func messageText(m discord.Message) string {
	text := cleanText(m.Content)
	if strings.TrimSpace(text) == "" {
		switch {
		case len(m.Attachments) > 0:
			text = fmt.Sprintf("[%d attachment(s)]", len(m.Attachments))
		case len(m.Embeds) > 0:
			text = "[embed]"
		case len(m.StickerItems) > 0:
			text = "[sticker]"
		}
	}
	return text
}
