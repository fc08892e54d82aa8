package discord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/disgoorg/disgo/discord"
	"github.com/disgoorg/disgo/gateway"
	"github.com/gorilla/websocket"

	"github.com/palyra/palyra/connectors"
)

// intents are what the bot asks the Gateway for: guilds, their messages, direct messages
// and the messages' content (a privileged intent, switched on in the Developer Portal).
const intents = gateway.IntentGuilds | gateway.IntentGuildMessages | gateway.IntentDirectMessages | gateway.IntentMessageContent

const (
	maxFrame     = 4 << 20
	dialTimeout  = 15 * time.Second
	helloTimeout = 30 * time.Second
)

var (
	errReconnect      = errors.New("Discord asked for a reconnect")
	errInvalidSession = errors.New("Discord invalidated the session")
)

// fatalError ends the Gateway loop: reconnecting cannot help until the operator acts.
type fatalError struct {
	readiness connectors.Readiness
	detail    string
}

func (e *fatalError) Error() string { return e.detail }

// gatewayClient keeps one Gateway session of an instance, resuming it across connections.
type gatewayClient struct {
	in     *instance
	token  string
	url    string
	dialer *websocket.Dialer

	mu        sync.Mutex
	sessionID string
	resumeURL string
	seq       int
}

type payload struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d,omitempty"`
	S  *int            `json:"s,omitempty"`
	T  string          `json:"t,omitempty"`
}

func (in *instance) startGateway(gwURL string, token string) {
	in.gwStarted = true
	in.gateway = "connecting"
	g := &gatewayClient{in: in, token: token, url: gwURL, dialer: &websocket.Dialer{HandshakeTimeout: dialTimeout}}
	go func() {
		defer close(in.done)
		g.run(in.ctx)
	}()
}

// run connects until the instance stops or Discord refuses it for good, with jittered
// exponential backoff between failed connections.
func (g *gatewayClient) run(ctx context.Context) {
	failures := 0
	for {
		ready, err := g.connect(ctx)
		if ctx.Err() != nil {
			return
		}
		if fe, ok := errors.AsType[*fatalError](err); ok {
			g.in.p.opts.Logger.Error("discord gateway refused", "instance", g.in.id, "err", fe.detail)
			g.in.setState(fe.readiness, fe.detail, "failed")
			g.in.settleGateway()
			return
		}
		if ready {
			failures = 0
		} else {
			failures++
		}
		g.in.p.opts.Logger.Info("discord gateway reconnecting", "instance", g.in.id, "reason", err)
		g.in.setState("", "", "reconnecting")
		timer := time.NewTimer(g.backoff(failures))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
	}
}

// backoff is base·2^n capped at max, the upper half of it jittered.
func (g *gatewayClient) backoff(n int) time.Duration {
	d := min(g.in.p.opts.ReconnectBase<<min(n, 6), g.in.p.opts.ReconnectMax)
	return d/2 + rand.N(d/2+1)
}

// connect runs one connection: HELLO, IDENTIFY or RESUME, then events until it ends. ready
// says whether the session got going (READY or RESUMED).
func (g *gatewayClient) connect(ctx context.Context) (ready bool, err error) {
	g.mu.Lock()
	target, resuming := g.url, g.sessionID != ""
	if resuming && g.resumeURL != "" {
		target = g.resumeURL
	}
	g.mu.Unlock()
	u, err := url.Parse(target)
	if err != nil {
		return false, &fatalError{connectors.Misconfigured, "the Gateway URL does not parse"}
	}
	q := u.Query()
	q.Set("v", "10")
	q.Set("encoding", "json")
	u.RawQuery = q.Encode()
	dialCtx, cancel := context.WithTimeout(ctx, dialTimeout)
	conn, resp, err := g.dialer.DialContext(dialCtx, u.String(), nil)
	cancel()
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return false, fmt.Errorf("dial the Gateway: %w", err)
	}
	conn.SetReadLimit(maxFrame)
	w := &wsWriter{conn: conn}
	// Stopping closes with 1000: the session ends with the instance.
	stop := context.AfterFunc(ctx, func() {
		conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "stopping"), time.Now().Add(time.Second))
		conn.Close()
	})
	defer stop()

	conn.SetReadDeadline(time.Now().Add(helloTimeout))
	hello, err := readPayload(conn)
	if err != nil {
		conn.Close()
		return false, g.closed(err)
	}
	var h struct {
		HeartbeatInterval int64 `json:"heartbeat_interval"`
	}
	if hello.Op != int(gateway.OpcodeHello) || json.Unmarshal(hello.D, &h) != nil || h.HeartbeatInterval <= 0 {
		conn.Close()
		return false, fmt.Errorf("the Gateway did not start with HELLO (op %d)", hello.Op)
	}
	interval := min(time.Duration(h.HeartbeatInterval)*time.Millisecond, 5*time.Minute)

	var acked atomic.Bool
	acked.Store(true)
	hbCtx, hbCancel := context.WithCancel(ctx)
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		g.heartbeat(hbCtx, w, interval, &acked)
	}()
	defer func() {
		hbCancel()
		conn.Close()
		<-hbDone
	}()

	if resuming {
		g.mu.Lock()
		resume := gateway.MessageDataResume{Token: g.token, SessionID: g.sessionID, Seq: g.seq}
		g.mu.Unlock()
		err = w.send(gateway.OpcodeResume, resume)
	} else {
		err = w.send(gateway.OpcodeIdentify, gateway.MessageDataIdentify{
			Token: g.token, Intents: intents, Shard: &[2]int{0, 1},
			Properties: gateway.IdentifyCommandDataProperties{OS: "linux", Browser: "palyra", Device: "palyra"},
		})
	}
	if err != nil {
		return false, fmt.Errorf("send %s: %w", map[bool]string{true: "RESUME", false: "IDENTIFY"}[resuming], err)
	}
	for {
		// A server gone silent is caught by the heartbeat too; this bounds the read anyway.
		conn.SetReadDeadline(time.Now().Add(2*interval + 5*time.Second))
		p, err := readPayload(conn)
		if err != nil {
			return ready, g.closed(err)
		}
		switch gateway.Opcode(p.Op) {
		case gateway.OpcodeDispatch:
			if p.S != nil {
				g.mu.Lock()
				g.seq = *p.S
				g.mu.Unlock()
			}
			switch p.T {
			case "READY":
				var r struct {
					SessionID        string `json:"session_id"`
					ResumeGatewayURL string `json:"resume_gateway_url"`
				}
				json.Unmarshal(p.D, &r)
				g.mu.Lock()
				g.sessionID = r.SessionID
				if isURL(r.ResumeGatewayURL, "wss", "ws") {
					g.resumeURL = r.ResumeGatewayURL
				}
				g.mu.Unlock()
				ready = true
				g.in.gatewayReady()
			case "RESUMED":
				ready = true
				g.in.gatewayReady()
			case "MESSAGE_CREATE":
				g.in.onMessage(p.D)
			}
		case gateway.OpcodeHeartbeat:
			if err := w.send(gateway.OpcodeHeartbeat, g.lastSeq()); err != nil {
				return ready, fmt.Errorf("heartbeat: %w", err)
			}
		case gateway.OpcodeReconnect:
			return ready, errReconnect
		case gateway.OpcodeInvalidSession:
			var resumable bool
			json.Unmarshal(p.D, &resumable)
			if !resumable {
				g.forgetSession()
			}
			return ready, errInvalidSession
		case gateway.OpcodeHeartbeatACK:
			acked.Store(true)
		}
	}
}

// heartbeat beats every interval, the first one at a random point of it (as Discord asks);
// a beat not acknowledged by the next one means a dead connection, which it cuts.
func (g *gatewayClient) heartbeat(ctx context.Context, w *wsWriter, interval time.Duration, acked *atomic.Bool) {
	timer := time.NewTimer(rand.N(interval))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if !acked.Swap(false) {
			w.conn.Close() // the read fails and the loop resumes on a new connection
			return
		}
		if w.send(gateway.OpcodeHeartbeat, g.lastSeq()) != nil {
			return
		}
		timer.Reset(interval)
	}
}

// lastSeq is the heartbeat's payload: the last sequence number, or null before any.
func (g *gatewayClient) lastSeq() *int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sessionID == "" && g.seq == 0 {
		return nil
	}
	seq := g.seq
	return &seq
}

func (g *gatewayClient) forgetSession() {
	g.mu.Lock()
	g.sessionID, g.resumeURL, g.seq = "", "", 0
	g.mu.Unlock()
}

// closed says what a connection's end means: for some close codes the session is gone, for
// others Discord will not take the bot until the operator acts.
func (g *gatewayClient) closed(err error) error {
	ce, ok := errors.AsType[*websocket.CloseError](err)
	if !ok {
		return err
	}
	text := strings.TrimSpace(ce.Text)
	switch ce.Code {
	case 4004:
		return &fatalError{connectors.AuthFailed, "the Gateway refused the bot token (4004 " + text + "): reset it in the Developer Portal, store it again and restart the connector"}
	case 4014:
		return &fatalError{connectors.Misconfigured, "the Gateway refused the intents (4014): turn on Message Content Intent in the Developer Portal (Bot → Privileged Gateway Intents), then restart the connector"}
	case 4010, 4011, 4012, 4013:
		return &fatalError{connectors.Misconfigured, fmt.Sprintf("the Gateway closed with %d %s", ce.Code, text)}
	case 4007, 4009:
		g.forgetSession()
	}
	return fmt.Errorf("the Gateway closed with %d %s", ce.Code, text)
}

func readPayload(conn *websocket.Conn) (payload, error) {
	var p payload
	mt, data, err := conn.ReadMessage()
	if err != nil {
		return p, err
	}
	if mt != websocket.TextMessage {
		return p, fmt.Errorf("the Gateway sent a binary frame; compression was not asked for")
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return p, fmt.Errorf("the Gateway sent a frame that is not JSON: %w", err)
	}
	return p, nil
}

// wsWriter serializes writes: a websocket takes one writer at a time.
type wsWriter struct {
	mu   sync.Mutex
	conn *websocket.Conn
}

func (w *wsWriter) send(op gateway.Opcode, d any) error {
	data, err := json.Marshal(struct {
		Op gateway.Opcode `json:"op"`
		D  any            `json:"d"`
	}{op, d})
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return w.conn.WriteMessage(websocket.TextMessage, data)
}

func (in *instance) gatewayReady() {
	in.setState("", "", "ready")
	in.settleGateway()
}

func (in *instance) settleGateway() { in.settle.Do(func() { close(in.gwSettled) }) }

// onMessage turns a MESSAGE_CREATE into an inbound message, unless the bot wrote it, it is
// from a channel not allowed, or it has nothing to show.
func (in *instance) onMessage(raw json.RawMessage) {
	var m discord.Message
	if err := json.Unmarshal(raw, &m); err != nil {
		in.p.opts.Logger.Warn("discord message that does not parse", "instance", in.id, "err", err)
		return
	}
	switch {
	case m.ID == 0 || m.Author.ID == 0 || m.Author.ID == in.botID || m.Author.System:
		return
	case m.Type != discord.MessageTypeDefault && m.Type != discord.MessageTypeReply:
		return
	case in.allowed != nil && !in.allowed[m.ChannelID]:
		return
	}
	text := messageText(m)
	if strings.TrimSpace(text) == "" {
		return
	}
	in.emit(connectors.Event{Kind: connectors.EventInbound, InstanceID: in.id, Inbound: connectors.Inbound{
		EnvelopeID:     envelopeID(m.ID.String()),
		ConversationID: m.ChannelID.String(),
		SenderID:       m.Author.ID.String(),
		SenderDisplay:  displayName(m.Author.Username, m.Author.GlobalName, memberNick(m.Member)),
		Text:           text,
		NativeID:       m.ID.String(),
		ReceivedAt:     m.CreatedAt,
		Direct:         m.GuildID == nil,
	}})
}

// envelopeID is an inbound message's id for dedupe: Discord's message id, so a replay of
// the same message is the same envelope.
func envelopeID(messageID string) string { return "discord-" + messageID }
