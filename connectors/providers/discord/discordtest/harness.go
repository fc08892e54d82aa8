package discordtest

import (
	"sync"
	"testing"

	"github.com/palyra/palyra/connectors/conformance"
	"github.com/palyra/palyra/connectors/platform"
)

// Harness is the conformance harness of a Discord provider run as plug, against s: faults
// are armed in s, deliveries are read from s's store, inbound messages are posted in s.
func Harness(plug platform.Plugin, s *Server) conformance.Harness {
	channel := s.NewChannel(s.NewGuildID())
	user := s.NewGuildID() // any fresh snowflake serves as a user id
	var mu sync.Mutex
	posted := map[string]string{} // envelope → message id
	return conformance.Harness{
		Kind:         "discord",
		Plugin:       plug,
		Config:       map[string]string{"token": "discord-bot", "api_url": s.APIURL(), "gateway_url": s.GatewayURL()},
		Credentials:  map[string][]byte{"token": []byte(s.Token())},
		Conversation: channel,
		Fault: func(f conformance.Fault, text string) string {
			switch f {
			case conformance.RateLimitedOnce:
				s.FailNextSends(RateLimit, 1)
			case conformance.RestartingOnce:
				s.FailNextSends(ServerError, 1)
			case conformance.Refused:
				s.FailSendsOf(text, Forbidden)
			case conformance.AlwaysRateLimited:
				s.FailSendsOf(text, RateLimit)
			}
			return text
		},
		Delivered: func(*testing.T, string) map[string]int {
			counts := map[string]int{}
			for _, m := range s.Messages(channel) {
				if m.AuthorID == s.BotID() {
					counts[m.Content]++
				}
			}
			return counts
		},
		// The same envelope again is the same Discord message dispatched again, as a replay.
		Inbound: func(_ *testing.T, envelopeID, text string) {
			mu.Lock()
			defer mu.Unlock()
			if id, ok := posted[envelopeID]; ok {
				s.Redispatch(channel, id)
				return
			}
			posted[envelopeID] = s.Inject(channel, user, "someone", text).ID
		},
	}
}
