package discord_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/palyra/palyra/connectors"
	"github.com/palyra/palyra/connectors/providers/discord/discordtest"
)

func TestRead(t *testing.T) {
	r := newRig(t, discordtest.Options{}, map[string]string{"inbound": "false"})
	var ids []string
	for _, text := range []string{"one", "two", "three"} {
		ids = append(ids, r.send(t, text, text).NativeID)
	}
	user := r.s.Inject(r.channel, "42", "dave", "\x1b[2Jfrom dave")
	read := func(req connectors.ReadRequest) []connectors.Message {
		t.Helper()
		req.InstanceID, req.ConversationID = instanceID, r.channel
		msgs, err := r.p.Read(ctxFor(t), req)
		if err != nil {
			t.Fatalf("Read(%+v): %v", req, err)
		}
		return msgs
	}
	newest := read(connectors.ReadRequest{Limit: 2})
	if len(newest) != 2 || newest[0].ID != user.ID || newest[0].Text != "from dave" || newest[0].ByConnector || newest[0].SenderID != "42" ||
		newest[1].ID != ids[2] || !newest[1].ByConnector || newest[1].CreatedAt.IsZero() {
		t.Fatalf("newest two = %+v", newest)
	}
	if older := read(connectors.ReadRequest{Before: ids[2], Limit: 10}); len(older) != 2 || older[0].Text != "two" || older[1].Text != "one" {
		t.Fatalf("before %s = %+v", ids[2], older)
	}
	if one := read(connectors.ReadRequest{MessageID: ids[0], Limit: 1}); len(one) != 1 || one[0].Text != "one" {
		t.Fatalf("one message = %+v", one)
	}
	if none := read(connectors.ReadRequest{MessageID: "12345", Limit: 1}); len(none) != 0 {
		t.Fatalf("an unknown message = %+v", none)
	}
}

func TestMutate(t *testing.T) {
	r := newRig(t, discordtest.Options{}, map[string]string{"inbound": "false"})
	own := r.send(t, "m1", "first draft").NativeID
	theirs := r.s.Inject(r.channel, "42", "dave", "dave's").ID
	mutate := func(m connectors.Mutation) connectors.MutationResult {
		t.Helper()
		m.InstanceID, m.ConversationID = instanceID, r.channel
		res, err := r.p.Mutate(ctxFor(t), m)
		if err != nil {
			t.Fatalf("Mutate(%+v): %v", m, err)
		}
		return res
	}
	if res := mutate(connectors.Mutation{Kind: connectors.Edit, MessageID: own, Text: "final"}); !res.Done || res.Message == nil || res.Message.Text != "final" || res.Message.EditedAt.IsZero() {
		t.Fatalf("edit = %+v", res)
	}
	if res := mutate(connectors.Mutation{Kind: connectors.Edit, MessageID: theirs, Text: "mine now"}); res.Done || !strings.Contains(res.Reason, "authored by another user") {
		t.Fatalf("an edit of someone else's message = %+v", res)
	}
	for _, emoji := range []string{"👍", "party:123456"} {
		if res := mutate(connectors.Mutation{Kind: connectors.React, MessageID: theirs, Emoji: emoji}); !res.Done {
			t.Fatalf("react %s = %+v", emoji, res)
		}
	}
	if res := mutate(connectors.Mutation{Kind: connectors.React, MessageID: theirs, Emoji: "a/b"}); res.Done {
		t.Fatalf("a bad emoji = %+v", res)
	}
	if res := mutate(connectors.Mutation{Kind: connectors.Delete, MessageID: own}); !res.Done {
		t.Fatalf("delete = %+v", res)
	}
	if res := mutate(connectors.Mutation{Kind: connectors.Delete, MessageID: own}); res.Done || !strings.Contains(res.Reason, "no such message") {
		t.Fatalf("delete again = %+v", res)
	}
	msgs := r.s.Messages(r.channel)
	if len(msgs) != 1 || msgs[0].ID != theirs || !slices.Equal(msgs[0].Reactions, []string{"👍", "party:123456"}) {
		t.Fatalf("stored after the changes: %+v", msgs)
	}
}
