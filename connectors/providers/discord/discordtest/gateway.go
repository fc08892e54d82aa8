package discordtest

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Gateway opcodes.
const (
	opDispatch       = 0
	opHeartbeat      = 1
	opIdentify       = 2
	opPresenceUpdate = 3
	opResume         = 6
	opReconnect      = 7
	opInvalidSession = 9
	opHello          = 10
	opHeartbeatACK   = 11
)

const (
	keptEvents  = 1000 // per session, for RESUME
	keptSession = 100
	outQueue    = 1024
)

type gatewayState struct {
	sessions map[string]*session
	order    []string // session ids, oldest first
	conns    map[*gatewayConn]bool
}

// session is a Gateway session: its sequence and the events it was sent, kept for a RESUME.
type session struct {
	id     string
	seq    int
	events []event
	conn   *gatewayConn // nil while disconnected; events still go to the log
}

type event struct {
	s    int
	data []byte
}

type gatewayConn struct {
	ws   *websocket.Conn
	out  chan []byte
	done chan struct{}
	once sync.Once
	sess *session // set once identified or resumed (under Server.mu)
}

type payload struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d"`
	S  *int            `json:"s"`
	T  *string         `json:"t"`
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

func (s *Server) serveGateway(w http.ResponseWriter, r *http.Request) {
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &gatewayConn{ws: ws, out: make(chan []byte, outQueue), done: make(chan struct{})}
	s.mu.Lock()
	s.gw.conns[c] = true
	s.mu.Unlock()
	defer s.forget(c)
	go c.write()
	if q := r.URL.Query(); q.Get("v") != "10" || q.Get("encoding") != "json" {
		c.closeWith(4012, "Invalid API version.")
		return
	}
	interval := s.opts.HeartbeatInterval
	c.send(mustJSON(map[string]any{"op": opHello, "d": map[string]any{"heartbeat_interval": interval.Milliseconds()}, "s": nil, "t": nil}))
	ws.SetReadLimit(1 << 20)
	for {
		ws.SetReadDeadline(time.Now().Add(interval + interval/2 + time.Second))
		_, data, err := ws.ReadMessage()
		if err != nil {
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				s.endSession(c)
				c.closeWith(4009, "Session timed out.")
			}
			return
		}
		var p payload
		if err := json.Unmarshal(data, &p); err != nil {
			c.closeWith(4002, "Error while decoding payload.")
			return
		}
		switch p.Op {
		case opHeartbeat:
			s.mu.Lock()
			s.counters.Heartbeats++
			s.mu.Unlock()
			c.send(mustJSON(map[string]any{"op": opHeartbeatACK, "d": nil, "s": nil, "t": nil}))
		case opIdentify:
			if !s.identify(c, p.D) {
				return
			}
		case opResume:
			if !s.resume(c, p.D) {
				return
			}
		case opPresenceUpdate:
		default:
			c.closeWith(4001, "Unknown opcode.")
			return
		}
	}
}

func (s *Server) tokenOK(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return subtle.ConstantTimeCompare([]byte(token), []byte(s.token)) == 1
}

func (s *Server) identify(c *gatewayConn, d json.RawMessage) bool {
	var id struct {
		Token   string `json:"token"`
		Intents *int   `json:"intents"`
	}
	if json.Unmarshal(d, &id) != nil || id.Intents == nil {
		c.closeWith(4002, "Error while decoding payload.")
		return false
	}
	if !s.tokenOK(id.Token) {
		c.closeWith(4004, "Authentication failed.")
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.sess != nil {
		c.closeWith(4005, "Already authenticated.")
		return false
	}
	s.counters.Identifies++
	sess := &session{id: randomHex(16), conn: c}
	c.sess = sess
	s.gw.sessions[sess.id] = sess
	s.gw.order = append(s.gw.order, sess.id)
	if len(s.gw.order) > keptSession {
		delete(s.gw.sessions, s.gw.order[0])
		s.gw.order = s.gw.order[1:]
	}
	sess.dispatch("READY", map[string]any{
		"v": 10, "user": s.botUser(), "guilds": []any{}, "session_id": sess.id,
		"resume_gateway_url": s.GatewayURL(), "shard": []int{0, 1},
		"application": map[string]any{"id": s.botID, "flags": 0},
	})
	return true
}

func (s *Server) resume(c *gatewayConn, d json.RawMessage) bool {
	var res struct {
		Token     string `json:"token"`
		SessionID string `json:"session_id"`
		Seq       int    `json:"seq"`
	}
	if json.Unmarshal(d, &res) != nil {
		c.closeWith(4002, "Error while decoding payload.")
		return false
	}
	if !s.tokenOK(res.Token) {
		c.closeWith(4004, "Authentication failed.")
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.gw.sessions[res.SessionID]
	if sess == nil || res.Seq > sess.seq || (len(sess.events) > 0 && res.Seq < sess.events[0].s-1) {
		c.send(mustJSON(map[string]any{"op": opInvalidSession, "d": false, "s": nil, "t": nil}))
		return true
	}
	s.counters.Resumes++
	if old := sess.conn; old != nil && old != c {
		old.sess = nil
		old.drop()
	}
	sess.conn, c.sess = c, sess
	for _, e := range sess.events {
		if e.s > res.Seq {
			c.send(e.data)
		}
	}
	sess.dispatch("RESUMED", map[string]any{})
	return true
}

// dispatch logs an event in the session and sends it if the session is connected.
func (sess *session) dispatch(t string, d any) {
	sess.seq++
	data := mustJSON(map[string]any{"op": opDispatch, "t": t, "s": sess.seq, "d": d})
	sess.events = append(sess.events, event{s: sess.seq, data: data})
	if len(sess.events) > keptEvents {
		sess.events = sess.events[len(sess.events)-keptEvents:]
	}
	if sess.conn != nil {
		sess.conn.send(data)
	}
}

// dispatchLocked sends an event to every session, as Discord does to every session of a
// bot that can see the channel.
func (s *Server) dispatchLocked(t string, d any) {
	for _, id := range s.gw.order {
		s.gw.sessions[id].dispatch(t, d)
	}
}

func (s *Server) forget(c *gatewayConn) {
	s.mu.Lock()
	delete(s.gw.conns, c)
	if c.sess != nil && c.sess.conn == c {
		c.sess.conn = nil
	}
	s.mu.Unlock()
	c.drop()
}

// endSession forgets c's session: it can no longer be resumed.
func (s *Server) endSession(c *gatewayConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.sess != nil {
		delete(s.gw.sessions, c.sess.id)
		s.gw.order = deleteString(s.gw.order, c.sess.id)
	}
}

func deleteString(list []string, v string) []string {
	out := list[:0]
	for _, x := range list {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

// Inject makes a user post a message in a channel (made with NewChannel): it is stored and
// dispatched as MESSAGE_CREATE.
func (s *Server) Inject(channelID, authorID, authorName, content string) Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channels[channelID]
	if ch == nil {
		panic("discordtest: Inject into an unknown channel " + channelID)
	}
	m := &Message{ID: s.newIDLocked(), ChannelID: channelID, GuildID: ch.guildID, AuthorID: authorID, Author: authorName, Content: content, CreatedAt: time.Now().UTC()}
	ch.keep(m)
	s.dispatchLocked("MESSAGE_CREATE", s.render(m))
	return *m
}

// Redispatch sends MESSAGE_CREATE for a stored message again, as a replay would.
func (s *Server) Redispatch(channelID, messageID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch := s.channels[channelID]; ch != nil {
		if m := ch.find(messageID); m != nil {
			s.dispatchLocked("MESSAGE_CREATE", s.render(m))
		}
	}
}

// DropGateway cuts every Gateway connection without a close frame; the sessions stay
// resumable.
func (s *Server) DropGateway() {
	for _, c := range s.liveConns() {
		c.drop()
	}
}

// CloseGateway closes every Gateway connection with a close code (4004 auth failed, 4009
// session timed out, 4014 disallowed intents, …).
func (s *Server) CloseGateway(code int, text string) { s.closeGateway(code, text) }

func (s *Server) closeGateway(code int, text string) {
	for _, c := range s.liveConns() {
		c.closeWith(code, text)
	}
}

// SendReconnect sends op 7 RECONNECT on every connection.
func (s *Server) SendReconnect() {
	for _, c := range s.liveConns() {
		c.send(mustJSON(map[string]any{"op": opReconnect, "d": nil, "s": nil, "t": nil}))
	}
}

// InvalidateSessions sends op 9 INVALID SESSION on every connection; unless resumable, the
// sessions are gone.
func (s *Server) InvalidateSessions(resumable bool) {
	s.mu.Lock()
	if !resumable {
		s.gw.sessions, s.gw.order = map[string]*session{}, nil
	}
	s.mu.Unlock()
	for _, c := range s.liveConns() {
		c.send(mustJSON(map[string]any{"op": opInvalidSession, "d": resumable, "s": nil, "t": nil}))
	}
}

// Sessions counts the connections that identified or resumed and are still open.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.gw.conns {
		if c.sess != nil && c.sess.conn == c {
			n++
		}
	}
	return n
}

func (s *Server) liveConns() []*gatewayConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*gatewayConn, 0, len(s.gw.conns))
	for c := range s.gw.conns {
		out = append(out, c)
	}
	return out
}

// send queues a frame; a client too slow to take its frames is cut off, as Discord does.
func (c *gatewayConn) send(data []byte) {
	select {
	case c.out <- data:
	case <-c.done:
	default:
		c.drop()
	}
}

func (c *gatewayConn) write() {
	for {
		select {
		case <-c.done:
			return
		case data := <-c.out:
			c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if c.ws.WriteMessage(websocket.TextMessage, data) != nil {
				c.drop()
				return
			}
		}
	}
}

func (c *gatewayConn) closeWith(code int, text string) {
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
	c.drop()
}

func (c *gatewayConn) drop() {
	c.once.Do(func() {
		close(c.done)
		c.ws.Close()
	})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
