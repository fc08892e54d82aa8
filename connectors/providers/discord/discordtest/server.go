// Package discordtest is a fake Discord for tests: the HTTP API v10 and the Gateway, served
// for real (an httptest server, a websocket) and behaving as Discord does where a connector
// can tell: `Authorization: Bot <token>`, snowflake ids, per-route rate-limit buckets with
// their headers, 429 bodies, JSON error codes, nonce dedupe with enforce_nonce, and the
// Gateway's opcodes (HELLO, IDENTIFY, heartbeats, READY, RESUME with replay, RECONNECT,
// INVALID SESSION, close codes). Faults can be armed and requests are counted.
package discordtest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Options shape a Server; zero fields take the defaults.
type Options struct {
	Token       string        // the bot token Discord accepts; default "test-bot-token"
	RouteLimit  int           // requests per bucket per RouteWindow; default 50
	RouteWindow time.Duration // default 1 s
	NonceWindow time.Duration // how long an enforced nonce dedupes; default 2 min
	// HeartbeatInterval is what HELLO asks for; default 41.25 s, as Discord.
	HeartbeatInterval time.Duration
}

// Fault is a way the next sends fail.
type Fault int

const (
	RateLimit      Fault = iota + 1 // 429 with a retry_after of 0.05 s
	ServerError                     // 500
	DropConnection                  // the connection is closed without an answer
	Forbidden                       // 403 Missing Permissions
)

// Counters say what the server saw.
type Counters struct {
	Requests   int // every HTTP API request
	Invalid    int // answered 401, 403 or 429 (what Discord's invalid-request ban counts)
	Created    int // messages created by POST /channels/{id}/messages
	Identifies int
	Resumes    int
	Heartbeats int
}

// Message is a message as the server keeps it.
type Message struct {
	ID        string
	ChannelID string
	GuildID   string
	AuthorID  string
	Author    string
	Bot       bool
	Content   string
	Nonce     string
	ReplyTo   string
	CreatedAt time.Time
	EditedAt  time.Time
	Reactions []string // emoji the bot reacted with
}

// Server is a fake Discord. Make it with New.
type Server struct {
	opts  Options
	http  *httptest.Server
	botID string

	mu       sync.Mutex
	token    string
	lastID   uint64
	channels map[string]*channel
	buckets  map[string]*bucket
	nonces   map[string]nonceEntry // channel + nonce
	next     []Fault
	always   map[string]Fault // by content
	counters Counters
	gw       gatewayState
}

type channel struct {
	guildID  string
	messages []*Message // oldest first
}

type bucket struct {
	remaining int
	reset     time.Time
}

type nonceEntry struct {
	messageID string
	at        time.Time
}

const maxKept = 10000

// New starts a fake Discord; it stops when the test ends.
func New(t testing.TB, opts Options) *Server {
	if opts.Token == "" {
		opts.Token = "test-bot-token"
	}
	if opts.RouteLimit <= 0 {
		opts.RouteLimit = 50
	}
	if opts.RouteWindow <= 0 {
		opts.RouteWindow = time.Second
	}
	if opts.NonceWindow <= 0 {
		opts.NonceWindow = 2 * time.Minute
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = 41250 * time.Millisecond
	}
	s := &Server{
		opts: opts, token: opts.Token, channels: map[string]*channel{}, buckets: map[string]*bucket{},
		nonces: map[string]nonceEntry{}, always: map[string]Fault{},
	}
	s.gw.sessions = map[string]*session{}
	s.gw.conns = map[*gatewayConn]bool{}
	s.botID = s.newID()
	mux := http.NewServeMux()
	api := "/api/v10"
	s.route(mux, "GET "+api+"/users/@me", "/users/@me", s.getMe)
	s.route(mux, "GET "+api+"/gateway/bot", "/gateway/bot", s.getGatewayBot)
	s.route(mux, "POST "+api+"/channels/{channel}/messages", "/channels/{channel}/messages", s.createMessage)
	s.route(mux, "GET "+api+"/channels/{channel}/messages", "/channels/{channel}/messages", s.listMessages)
	s.route(mux, "GET "+api+"/channels/{channel}/messages/{message}", "/channels/{channel}/messages/{message}", s.getMessage)
	s.route(mux, "PATCH "+api+"/channels/{channel}/messages/{message}", "/channels/{channel}/messages/{message}", s.editMessage)
	s.route(mux, "DELETE "+api+"/channels/{channel}/messages/{message}", "/channels/{channel}/messages/{message}", s.deleteMessage)
	s.route(mux, "PUT "+api+"/channels/{channel}/messages/{message}/reactions/{emoji}/@me", "/channels/{channel}/messages/{message}/reactions/{emoji}/@me", s.addReaction)
	mux.HandleFunc("GET /gateway", s.serveGateway)
	s.http = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// Close stops the server and ends every Gateway connection.
func (s *Server) Close() {
	s.DropGateway()
	s.http.Close()
}

// APIURL is the base of the HTTP API, like https://discord.com/api/v10.
func (s *Server) APIURL() string { return s.http.URL + "/api/v10" }

// GatewayURL is the Gateway's address, as GET /gateway/bot gives it.
func (s *Server) GatewayURL() string {
	return "ws" + strings.TrimPrefix(s.http.URL, "http") + "/gateway"
}

// Token is the bot token the server accepts.
func (s *Server) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// BotID is the bot user's id.
func (s *Server) BotID() string { return s.botID }

// RevokeToken makes the current token invalid, as a reset in the developer portal does: the
// HTTP API answers 401 and the Gateway closes with 4004.
func (s *Server) RevokeToken() {
	s.mu.Lock()
	s.token = "revoked-" + randomHex(8)
	s.mu.Unlock()
	s.closeGateway(4004, "Authentication failed.")
}

// NewChannel makes a channel and returns its id; guildID "" makes a direct-message channel.
func (s *Server) NewChannel(guildID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.newIDLocked()
	s.channels[id] = &channel{guildID: guildID}
	return id
}

// NewGuildID returns a fresh snowflake to use as a guild id.
func (s *Server) NewGuildID() string { return s.newID() }

// FailNextSends makes the next n message creations fail as f says.
func (s *Server) FailNextSends(f Fault, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.next = append(s.next, f)
	}
}

// FailSendsOf makes every creation of a message with this content fail as f says.
func (s *Server) FailSendsOf(content string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.always[content] = f
}

// Counters returns what the server saw so far.
func (s *Server) Counters() Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counters
}

// Messages returns a channel's messages, oldest first.
func (s *Server) Messages(channelID string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	if ch := s.channels[channelID]; ch != nil {
		for _, m := range ch.messages {
			out = append(out, *m)
		}
	}
	return out
}

func (s *Server) newID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newIDLocked()
}

// newIDLocked makes a snowflake: milliseconds since Discord's epoch above 22 bits of
// increment, strictly increasing.
func (s *Server) newIDLocked() string {
	const discordEpoch = 1420070400000
	id := uint64(time.Now().UnixMilli()-discordEpoch) << 22
	if id <= s.lastID {
		id = s.lastID + 1
	}
	s.lastID = id
	return strconv.FormatUint(id, 10)
}

// route registers a handler behind the checks every API request goes through: the count,
// the token and the route's rate-limit bucket.
func (s *Server) route(mux *http.ServeMux, pattern, template string, h func(http.ResponseWriter, *http.Request)) {
	method, _, _ := strings.Cut(pattern, " ")
	bucketHash := fmt.Sprintf("%x", hashString(method+" "+template))
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.counters.Requests++
		token := s.token
		s.mu.Unlock()
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bot ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			s.countInvalid()
			writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "401: Unauthorized", "code": 0})
			return
		}
		if !s.takeBucket(w, bucketHash, r.PathValue("channel")) {
			return
		}
		h(w, r)
	})
}

// takeBucket spends one request of the route's bucket (per channel, Discord's major
// parameter) and writes the rate-limit headers, or answers 429 when it is spent.
func (s *Server) takeBucket(w http.ResponseWriter, hash, major string) bool {
	s.mu.Lock()
	now := time.Now()
	key := hash + ":" + major
	b := s.buckets[key]
	if b == nil || !now.Before(b.reset) {
		b = &bucket{remaining: s.opts.RouteLimit, reset: now.Add(s.opts.RouteWindow)}
		s.buckets[key] = b
	}
	resetAfter := b.reset.Sub(now).Seconds()
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(s.opts.RouteLimit))
	h.Set("X-RateLimit-Reset", strconv.FormatFloat(float64(b.reset.UnixMilli())/1000, 'f', 3, 64))
	h.Set("X-RateLimit-Reset-After", strconv.FormatFloat(resetAfter, 'f', 3, 64))
	h.Set("X-RateLimit-Bucket", hash)
	if b.remaining == 0 {
		s.counters.Invalid++
		s.mu.Unlock()
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Scope", "user")
		writeRateLimited(w, resetAfter)
		return false
	}
	b.remaining--
	h.Set("X-RateLimit-Remaining", strconv.Itoa(b.remaining))
	s.mu.Unlock()
	return true
}

func writeRateLimited(w http.ResponseWriter, retryAfter float64) {
	w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter+0.999)))
	writeJSON(w, http.StatusTooManyRequests, map[string]any{"message": "You are being rate limited.", "retry_after": retryAfter, "global": false})
}

func (s *Server) countInvalid() {
	s.mu.Lock()
	s.counters.Invalid++
	s.mu.Unlock()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError writes Discord's JSON error body.
func writeError(w http.ResponseWriter, status, code int, message string) {
	writeJSON(w, status, map[string]any{"message": message, "code": code})
}

func writeFormError(w http.ResponseWriter, field, code, message string) {
	writeJSON(w, http.StatusBadRequest, map[string]any{
		"message": "Invalid Form Body", "code": 50035,
		"errors": map[string]any{field: map[string]any{"_errors": []map[string]string{{"code": code, "message": message}}}},
	})
}

func (s *Server) getMe(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.botUser())
}

func (s *Server) botUser() map[string]any {
	return map[string]any{"id": s.botID, "username": "palyra-test-bot", "discriminator": "0", "global_name": nil, "bot": true}
}

func (s *Server) getGatewayBot(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"url": s.GatewayURL(), "shards": 1,
		"session_start_limit": map[string]int{"total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 1},
	})
}

type createBody struct {
	Content          string `json:"content"`
	Nonce            any    `json:"nonce"`
	EnforceNonce     bool   `json:"enforce_nonce"`
	MessageReference *struct {
		MessageID       string `json:"message_id"`
		FailIfNotExists *bool  `json:"fail_if_not_exists"`
	} `json:"message_reference"`
}

func (s *Server) createMessage(w http.ResponseWriter, r *http.Request) {
	var body createBody
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, 50109, "The request body contains invalid JSON.")
		return
	}
	if f, ok := s.takeFault(body.Content); ok {
		s.failSend(w, f)
		return
	}
	nonce := ""
	switch n := body.Nonce.(type) {
	case string:
		nonce = n
	case float64:
		nonce = strconv.FormatFloat(n, 'f', 0, 64)
	}
	switch {
	case strings.TrimSpace(body.Content) == "":
		writeError(w, http.StatusBadRequest, 50006, "Cannot send an empty message")
		return
	case utf8.RuneCountInString(body.Content) > 2000:
		writeFormError(w, "content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
		return
	case len(nonce) > 25:
		writeFormError(w, "nonce", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
		return
	}
	s.mu.Lock()
	ch := s.channels[r.PathValue("channel")]
	if ch == nil {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, 10003, "Unknown Channel")
		return
	}
	channelID := r.PathValue("channel")
	nonceKey := channelID + "\x00" + nonce
	if nonce != "" && body.EnforceNonce {
		if e, ok := s.nonces[nonceKey]; ok && time.Since(e.at) < s.opts.NonceWindow {
			if m := ch.find(e.messageID); m != nil {
				out := s.render(m)
				s.mu.Unlock()
				writeJSON(w, http.StatusOK, out)
				return
			}
		}
	}
	replyTo := ""
	if ref := body.MessageReference; ref != nil {
		if ch.find(ref.MessageID) == nil && (ref.FailIfNotExists == nil || *ref.FailIfNotExists) {
			s.mu.Unlock()
			writeFormError(w, "message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")
			return
		}
		replyTo = ref.MessageID
	}
	m := &Message{
		ID: s.newIDLocked(), ChannelID: channelID, GuildID: ch.guildID, AuthorID: s.botID, Author: "palyra-test-bot", Bot: true,
		Content: body.Content, Nonce: nonce, ReplyTo: replyTo, CreatedAt: time.Now().UTC(),
	}
	ch.keep(m)
	if nonce != "" {
		s.nonces[nonceKey] = nonceEntry{messageID: m.ID, at: time.Now()}
	}
	s.counters.Created++
	out := s.render(m)
	s.dispatchLocked("MESSAGE_CREATE", out)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) takeFault(content string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.always[content]; ok {
		return f, true
	}
	if len(s.next) == 0 {
		return 0, false
	}
	f := s.next[0]
	s.next = s.next[1:]
	return f, true
}

func (s *Server) failSend(w http.ResponseWriter, f Fault) {
	switch f {
	case RateLimit:
		s.countInvalid()
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset-After", "0.050")
		w.Header().Set("X-RateLimit-Scope", "user")
		writeRateLimited(w, 0.05)
	case ServerError:
		writeError(w, http.StatusInternalServerError, 0, "500: Internal Server Error")
	case DropConnection:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		writeError(w, http.StatusBadGateway, 0, "502: Bad Gateway")
	case Forbidden:
		s.countInvalid()
		writeError(w, http.StatusForbidden, 50013, "Missing Permissions")
	}
}

func (s *Server) listMessages(w http.ResponseWriter, r *http.Request) {
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			writeFormError(w, "limit", "NUMBER_TYPE_MAX", "int value should be between 1 and 100.")
			return
		}
		limit = n
	}
	before := r.URL.Query().Get("before")
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channels[r.PathValue("channel")]
	if ch == nil {
		writeError(w, http.StatusNotFound, 10003, "Unknown Channel")
		return
	}
	out := []map[string]any{}
	for i := len(ch.messages) - 1; i >= 0 && len(out) < limit; i-- {
		m := ch.messages[i]
		if before != "" && !idLess(m.ID, before) {
			continue
		}
		out = append(out, s.render(m))
	}
	writeJSON(w, http.StatusOK, out)
}

func idLess(a, b string) bool {
	x, _ := strconv.ParseUint(a, 10, 64)
	y, _ := strconv.ParseUint(b, 10, 64)
	return x < y
}

// message finds the channel and message of a request or writes Discord's 404. It holds
// s.mu when it returns a message.
func (s *Server) message(w http.ResponseWriter, r *http.Request) *Message {
	s.mu.Lock()
	ch := s.channels[r.PathValue("channel")]
	if ch == nil {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, 10003, "Unknown Channel")
		return nil
	}
	m := ch.find(r.PathValue("message"))
	if m == nil {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, 10008, "Unknown Message")
		return nil
	}
	return m
}

func (s *Server) getMessage(w http.ResponseWriter, r *http.Request) {
	m := s.message(w, r)
	if m == nil {
		return
	}
	out := s.render(m)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) editMessage(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Content *string `json:"content"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, 50109, "The request body contains invalid JSON.")
		return
	}
	if body.Content != nil && utf8.RuneCountInString(*body.Content) > 2000 {
		writeFormError(w, "content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
		return
	}
	m := s.message(w, r)
	if m == nil {
		return
	}
	if m.AuthorID != s.botID {
		s.counters.Invalid++
		s.mu.Unlock()
		writeError(w, http.StatusForbidden, 50005, "Cannot edit a message authored by another user")
		return
	}
	if body.Content != nil {
		m.Content = *body.Content
	}
	m.EditedAt = time.Now().UTC()
	out := s.render(m)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deleteMessage(w http.ResponseWriter, r *http.Request) {
	m := s.message(w, r)
	if m == nil {
		return
	}
	ch := s.channels[m.ChannelID]
	ch.messages = slices.DeleteFunc(ch.messages, func(x *Message) bool { return x == m })
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) addReaction(w http.ResponseWriter, r *http.Request) {
	emoji := r.PathValue("emoji") // the mux unescapes it
	if !validEmoji(emoji) {
		writeError(w, http.StatusBadRequest, 10014, "Unknown Emoji")
		return
	}
	m := s.message(w, r)
	if m == nil {
		return
	}
	if !slices.Contains(m.Reactions, emoji) {
		m.Reactions = append(m.Reactions, emoji)
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// validEmoji accepts a Unicode emoji (anything not plain ASCII) or a custom one, name:id.
func validEmoji(e string) bool {
	if name, id, ok := strings.Cut(e, ":"); ok {
		_, err := strconv.ParseUint(id, 10, 64)
		return name != "" && err == nil
	}
	for _, r := range e {
		if r >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// render is a message as Discord's API shows it.
func (s *Server) render(m *Message) map[string]any {
	out := map[string]any{
		"id": m.ID, "channel_id": m.ChannelID, "type": 0, "content": m.Content, "tts": false,
		"timestamp": m.CreatedAt.Format(time.RFC3339Nano), "edited_timestamp": nil,
		"author":   map[string]any{"id": m.AuthorID, "username": m.Author, "discriminator": "0", "global_name": nil, "bot": m.Bot},
		"mentions": []any{}, "mention_roles": []any{}, "attachments": []any{}, "embeds": []any{}, "pinned": false, "mention_everyone": false,
	}
	if m.GuildID != "" {
		out["guild_id"] = m.GuildID
	}
	if m.Nonce != "" {
		out["nonce"] = m.Nonce
	}
	if !m.EditedAt.IsZero() {
		out["edited_timestamp"] = m.EditedAt.Format(time.RFC3339Nano)
	}
	if m.ReplyTo != "" {
		out["message_reference"] = map[string]any{"type": 0, "message_id": m.ReplyTo, "channel_id": m.ChannelID}
	}
	if len(m.Reactions) > 0 {
		var rs []map[string]any
		for _, e := range m.Reactions {
			rs = append(rs, map[string]any{"count": 1, "me": true, "emoji": map[string]any{"id": nil, "name": e}})
		}
		out["reactions"] = rs
	}
	return out
}

func (ch *channel) find(id string) *Message {
	for _, m := range ch.messages {
		if m.ID == id {
			return m
		}
	}
	return nil
}

func (ch *channel) keep(m *Message) {
	ch.messages = append(ch.messages, m)
	if len(ch.messages) > maxKept {
		ch.messages = ch.messages[len(ch.messages)-maxKept:]
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func hashString(s string) uint64 {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
