// Package discord is the Discord connector: a bot that sends through Discord's HTTP API v10
// (disgo's REST client, with this package's rate limiter and no retries of its own, so the
// outbox owns every retry) and receives through the Gateway (this package's client over a
// websocket: identify, heartbeats, resume after a cut, reconnect with backoff).
//
// Sends are idempotent twice over: the outbox keys every message, and each create carries a
// nonce derived from that key with enforce_nonce, so a retry within Discord's dedupe window
// returns the message already made instead of posting it again.
package discord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/disgoorg/disgo/discord"
	"github.com/disgoorg/disgo/rest"
	"github.com/disgoorg/snowflake/v2"

	"github.com/palyra/palyra/connectors"
	"github.com/palyra/palyra/internal/textsafe"
)

// Kind is Discord's connector kind.
const Kind = "discord"

// DefaultAPIURL is Discord's HTTP API.
const DefaultAPIURL = "https://discord.com/api/v10"

// maxText is the longest message Discord takes, in characters.
const maxText = 2000

const maxChannels = 100

var fields = []connectors.ConfigField{
	{Name: "token", Label: "Bot token", Type: connectors.FieldSecret, Required: true,
		Help: "the secret holding the bot's token (Developer Portal → your application → Bot → Reset Token)"},
	{Name: "api_url", Label: "API URL", Type: connectors.FieldString, Default: DefaultAPIURL,
		Help: "Discord's HTTP API; change it only to point at a test server"},
	{Name: "gateway_url", Label: "Gateway URL", Type: connectors.FieldString,
		Help: "the Gateway's wss:// address; empty asks the API (GET /gateway/bot)"},
	{Name: "inbound", Label: "Inbound", Type: connectors.FieldBool, Default: "true",
		Help: "connect to the Gateway and take the messages people send the bot"},
	{Name: "channels", Label: "Inbound channels", Type: connectors.FieldString,
		Help: "comma-separated channel ids whose messages are taken (empty: every channel the bot sees, and its DMs)"},
}

// Options tune a Provider; zero fields take the defaults.
type Options struct {
	Version string
	// ReconnectBase and ReconnectMax bound the Gateway's reconnect backoff (1 s doubling
	// to 60 s, with jitter).
	ReconnectBase, ReconnectMax time.Duration
	// ReadyWait is how long Start waits for the Gateway's READY; default 10 s.
	ReadyWait time.Duration
	// HTTPClient carries the API requests; default one with a 15 s timeout that follows
	// no redirects (the token must not go elsewhere).
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// Provider is the Discord provider. Make it with New.
type Provider struct {
	opts Options

	mu        sync.Mutex
	instances map[string]*instance
	events    chan connectors.Event // the newest Events caller's
	handedOut bool                  // events was given to a caller
}

// New returns a Discord provider.
func New(opts Options) *Provider {
	if opts.ReconnectBase <= 0 {
		opts.ReconnectBase = time.Second
	}
	if opts.ReconnectMax <= 0 {
		opts.ReconnectMax = time.Minute
	}
	if opts.ReadyWait <= 0 {
		opts.ReadyWait = 10 * time.Second
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{
			Timeout:       15 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Provider{opts: opts, events: make(chan connectors.Event, 512), instances: map[string]*instance{}}
}

func (p *Provider) Describe(context.Context) (connectors.Description, error) {
	return connectors.Description{
		Kind: Kind, Version: p.opts.Version, Availability: connectors.Supported,
		Capabilities: []connectors.Capability{connectors.CapInbound, connectors.CapEdit, connectors.CapDelete, connectors.CapReact, connectors.CapRead},
		MaxTextRunes: maxText, Config: fields,
	}, nil
}

func (p *Provider) Validate(_ context.Context, config map[string]string) error {
	if err := connectors.CheckConfig(fields, config); err != nil {
		return err
	}
	var errs []connectors.FieldError
	if v := config["api_url"]; v != "" && !isURL(v, "https", "http") {
		errs = append(errs, connectors.FieldError{Field: "api_url", Message: "want an http(s):// URL"})
	}
	if v := config["gateway_url"]; v != "" && !isURL(v, "wss", "ws") {
		errs = append(errs, connectors.FieldError{Field: "gateway_url", Message: "want a wss:// URL"})
	}
	if _, err := parseChannels(config["channels"]); err != nil {
		errs = append(errs, connectors.FieldError{Field: "channels", Message: err.Error()})
	}
	if len(errs) > 0 {
		return &connectors.ConfigError{Fields: errs}
	}
	return nil
}

func isURL(v string, schemes ...string) bool {
	u, err := url.Parse(v)
	return err == nil && slices.Contains(schemes, u.Scheme) && u.Host != "" && u.User == nil
}

func parseChannels(v string) (map[snowflake.ID]bool, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	out := map[snowflake.ID]bool{}
	for part := range strings.SplitSeq(v, ",") {
		id, err := parseID(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("%q is not a channel id (a number, as Discord's Copy Channel ID gives)", textsafe.Clean(strings.TrimSpace(part)))
		}
		out[id] = true
	}
	if len(out) > maxChannels {
		return nil, fmt.Errorf("%d channels; at most %d", len(out), maxChannels)
	}
	return out, nil
}

func parseID(s string) (snowflake.ID, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("not a Discord id")
	}
	return snowflake.ID(n), nil
}

// Start checks the token with GET /users/@me and, with inbound on, connects the Gateway and
// waits (ReadyWait at most) for its READY. Starting a running instance starts it anew.
func (p *Provider) Start(ctx context.Context, inst connectors.Instance) (connectors.Status, error) {
	if err := p.Validate(ctx, inst.Config); err != nil {
		return connectors.Status{Readiness: connectors.Misconfigured, Detail: err.Error()}, nil
	}
	p.Stop(ctx, inst.ID)
	token, detail := cleanToken(inst.Credentials["token"])
	if token == "" {
		return connectors.Status{Readiness: connectors.MissingCredential, Detail: detail}, nil
	}
	in := p.newInstance(inst, token)
	user, err := in.currentUser(ctx)
	if err != nil {
		in.close()
		return in.startFailure(err)
	}
	in.botID, in.botName = user.ID, displayName(user.Username, user.GlobalName, nil)
	if in.inbound {
		gwURL := inst.Config["gateway_url"]
		if gwURL == "" {
			gb, err := in.gatewayBot(ctx)
			if err != nil {
				in.close()
				return in.startFailure(err)
			}
			gwURL = gb.URL
		}
		in.startGateway(gwURL, token)
	}
	p.mu.Lock()
	p.instances[inst.ID] = in
	p.mu.Unlock()
	if in.inbound {
		wait, cancel := context.WithTimeout(ctx, p.opts.ReadyWait)
		defer cancel()
		select {
		case <-in.gwSettled:
		case <-wait.Done():
		case <-in.ctx.Done(): // stopped meanwhile
		}
	}
	return in.status(), nil
}

// cleanToken takes the token as a secret file holds it: spaces and a final newline around
// it, perhaps the "Bot " prefix of the Authorization header.
func cleanToken(raw []byte) (token, detail string) {
	t := strings.TrimSpace(string(raw))
	if rest, ok := strings.CutPrefix(t, "Bot "); ok {
		t = strings.TrimSpace(rest)
	}
	switch {
	case t == "":
		return "", "no bot token: put it in the secret the token setting names (palyra-tui secrets set NAME < token.txt)"
	case len(t) > 256 || strings.ContainsFunc(t, func(r rune) bool { return r <= ' ' || r >= 0x7f }):
		return "", "the token secret does not hold a Discord bot token (it has spaces or unprintable characters, or is too long)"
	}
	return t, ""
}

func (p *Provider) Stop(_ context.Context, id string) error {
	p.mu.Lock()
	in := p.instances[id]
	delete(p.instances, id)
	p.mu.Unlock()
	if in != nil {
		in.close()
	}
	return nil
}

// Instances lists the started instances' ids.
func (p *Provider) Instances() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Sorted(maps.Keys(p.instances))
}

// Events gives each caller a channel of its own and sends to the newest one: a reader left
// over from before (a platform that was replaced) gets nothing more.
func (p *Provider) Events(context.Context) (<-chan connectors.Event, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.handedOut {
		p.events = make(chan connectors.Event, 512)
	}
	p.handedOut = true
	return p.events, nil
}

func (p *Provider) eventsChannel() chan connectors.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.events
}

func (p *Provider) Status(_ context.Context, id string) (connectors.Status, error) {
	in, err := p.instance(id)
	if err != nil {
		return connectors.Status{}, err
	}
	return in.status(), nil
}

func (p *Provider) instance(id string) (*instance, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	in := p.instances[id]
	if in == nil {
		return nil, fmt.Errorf("%w: %s", connectors.ErrUnknownInstance, id)
	}
	return in, nil
}

// instance is one started bot.
type instance struct {
	p        *Provider
	id       string
	client   rest.Client
	channels rest.Channels
	limiter  *limiter
	botID    snowflake.ID
	botName  string
	inbound  bool
	// gwStarted is set before the instance is shared and never after.
	gwStarted bool
	allowed   map[snowflake.ID]bool // nil: every channel

	ctx       context.Context // ends at Stop
	cancel    context.CancelFunc
	done      chan struct{} // closed when the Gateway loop has ended
	gwSettled chan struct{} // closed at the first READY or a Gateway failure
	settle    sync.Once

	mu        sync.Mutex
	readiness connectors.Readiness
	detail    string
	gateway   string // off, connecting, ready, reconnecting, failed
}

func (p *Provider) newInstance(inst connectors.Instance, token string) *instance {
	lim := newLimiter(time.Now)
	client := rest.NewClient(token,
		rest.WithURL(cmpOr(inst.Config["api_url"], DefaultAPIURL)),
		rest.WithHTTPClient(p.opts.HTTPClient),
		rest.WithRateLimiter(lim),
		rest.WithLogger(slog.New(slog.DiscardHandler)), // its debug lines carry message bodies
		rest.WithUserAgent("DiscordBot (https://github.com/palyra/palyra, "+cmpOr(p.opts.Version, "dev")+")"),
	)
	allowed, _ := parseChannels(inst.Config["channels"])
	ctx, cancel := context.WithCancel(context.Background())
	return &instance{
		p: p, id: inst.ID, client: client, channels: rest.NewChannels(client), limiter: lim,
		inbound: inst.Config["inbound"] != "false", allowed: allowed,
		ctx: ctx, cancel: cancel, done: make(chan struct{}), gwSettled: make(chan struct{}),
		readiness: connectors.Ready, gateway: "off",
	}
}

func cmpOr(v, fallback string) string {
	if v == "" {
		return fallback
	}
	return v
}

func (in *instance) close() {
	in.cancel()
	if in.gwStarted {
		<-in.done
	}
	in.client.HTTPClient().CloseIdleConnections()
}

func (in *instance) currentUser(ctx context.Context) (*discord.User, error) {
	var user *discord.User
	err := in.client.Do(rest.GetCurrentUser.Compile(nil), nil, &user, rest.WithCtx(ctx))
	if err == nil && (user == nil || user.ID == 0) {
		err = fmt.Errorf("GET /users/@me answered without a user")
	}
	return user, err
}

func (in *instance) gatewayBot(ctx context.Context) (*discord.GatewayBot, error) {
	gb, err := rest.NewGateway(in.client).GetGatewayBot(rest.WithCtx(ctx))
	if err == nil && (gb == nil || !isURL(gb.URL, "wss", "ws")) {
		err = fmt.Errorf("GET /gateway/bot gave no wss:// URL")
	}
	return gb, err
}

// startFailure is the status of a Start that Discord answered with err.
// startFailure says what a failed first call means: a refused token or a wrong api_url
// needs the operator; Discord out of reach is an error, which palyrad meets by trying
// again with backoff.
func (in *instance) startFailure(err error) (connectors.Status, error) {
	c := classify(err)
	switch {
	case c.status == http.StatusUnauthorized || c.status == http.StatusForbidden:
		return connectors.Status{Readiness: connectors.AuthFailed, Detail: "Discord refused the bot token (" + c.reason + "): reset it in the Developer Portal (Bot → Reset Token), store it again and restart the connector"}, nil
	case c.status != 0:
		return connectors.Status{Readiness: connectors.Misconfigured, Detail: "Discord answered " + c.reason + "; is api_url Discord's API?"}, nil
	}
	return connectors.Status{}, errors.New("cannot reach Discord: " + c.reason)
}

func (in *instance) status() connectors.Status {
	in.mu.Lock()
	defer in.mu.Unlock()
	st := connectors.Status{Readiness: in.readiness, Facts: map[string]string{
		"bot_user_id": in.botID.String(), "bot_name": in.botName, "gateway": in.gateway,
		"invalid_requests_10m": strconv.Itoa(in.limiter.invalidCount()),
	}}
	if in.readiness != connectors.Ready {
		st.Detail = in.detail
	}
	return st
}

// setState records the instance's readiness and Gateway state and, when either changed,
// tells palyrad.
func (in *instance) setState(readiness connectors.Readiness, detail, gateway string) {
	in.mu.Lock()
	if readiness == "" {
		readiness, detail = in.readiness, in.detail
	}
	if gateway == "" {
		gateway = in.gateway
	}
	changed := readiness != in.readiness || gateway != in.gateway
	in.readiness, in.detail, in.gateway = readiness, detail, gateway
	in.mu.Unlock()
	if changed {
		in.emit(connectors.Event{Kind: connectors.EventStatus, InstanceID: in.id, Status: in.status()})
	}
}

// refused marks the instance AuthFailed after Discord refused its token.
func (in *instance) refused(reason string) {
	in.setState(connectors.AuthFailed, "Discord refused the bot token ("+reason+"): reset it in the Developer Portal, store it again and restart the connector", "")
}

func (in *instance) authFailed() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.readiness == connectors.AuthFailed
}

// emit hands an event to palyrad, waiting while it is behind: an inbound message is not
// dropped, and a Gateway that waits long enough is cut and resumed, which replays it.
func (in *instance) emit(e connectors.Event) {
	select {
	case in.p.eventsChannel() <- e:
	case <-in.ctx.Done():
	}
}

// displayName picks what Discord shows for a user: the server nickname, the global display
// name, the username; cleaned for a terminal and bounded.
func displayName(username string, globalName, nick *string) string {
	name := username
	switch {
	case nick != nil && *nick != "":
		name = *nick
	case globalName != nil && *globalName != "":
		name = *globalName
	}
	return truncate(textsafe.Clean(name), connectors.MaxDisplayNameBytes)
}

// cleanText makes message text from Discord safe to keep and show: escape sequences and
// control characters go, line breaks stay.
func cleanText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = textsafe.Clean(l)
	}
	return truncate(strings.Join(lines, "\n"), connectors.MaxTextBytes)
}

// truncate cuts s to at most n bytes on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
