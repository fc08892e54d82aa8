package tui

import (
	"context"
	"errors"
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"
	"google.golang.org/grpc"

	"github.com/palyra/palyra/internal/adminclient"
	"github.com/palyra/palyra/internal/textsafe"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/supervisor/stack"
	"github.com/palyra/palyra/tui/cockpit"
	"github.com/palyra/palyra/tui/gateway"
)

const (
	// refusedRetry is how often a refused token is tried again: palyrad logs every refusal,
	// and a token is rarely fixed within seconds.
	refusedRetry = 30 * time.Second
	// whoAmITimeout bounds the first call of a connection.
	whoAmITimeout = 5 * time.Second
)

// link is the root's connection to palyrad's admin API: the client, what its token may do,
// and the two watch streams that push the inventory and the approvals.
type link struct {
	addr   string // the admin address in use; "" while palyrad is not running
	ca     string // the gateway CA file its TLS is pinned to; "" for plaintext
	gen    int    // tells the messages of the current attempt from those of older ones
	cancel context.CancelFunc
	conn   gateway.Conn
	retry  time.Duration
	tried  bool // a first snapshot has been looked at
}

type gatewayMsg struct {
	gen    int
	client *adminclient.Client
	who    *palyrav1.WhoAmIReply
	err    error
}

type gatewayRetryMsg struct{ gen int }

// inventoryMsg is an opened inventory watch (ev nil) or one of its events.
type inventoryMsg struct {
	gen    int
	stream grpc.ServerStreamingClient[palyrav1.InventoryEvent]
	ev     *palyrav1.InventoryEvent
	err    error
}

// approvalMsg is an opened approvals watch (ev nil) or one of its events.
type approvalMsg struct {
	gen    int
	stream grpc.ServerStreamingClient[palyrav1.ApprovalEvent]
	ev     *palyrav1.ApprovalEvent
	err    error
}

// channelsMsg is an opened connector watch (list nil) or one of its lists.
type channelsMsg struct {
	gen    int
	stream gateway.ConnectorWatch
	list   *palyrav1.ListConnectorsReply
	err    error
}

// tokenError is a token that could not be loaded: trying again soon will not help.
type tokenError struct{ err error }

func (e tokenError) Error() string { return "no admin token: " + e.err.Error() }

// adminAddr is where palyrad's admin API listens according to a snapshot and the gateway
// CA file to pin when it serves TLS, or why it cannot be reached.
func (m model) adminAddr(snap supervisor.Snapshot) (addr, ca, why string) {
	if m.opts.Gateway != "" {
		return m.opts.Gateway, m.opts.GatewayCA, ""
	}
	if addr := adminclient.AdminAddr(snap); addr != "" {
		ca := m.opts.GatewayCA
		if ca == "" && stack.AdminTLS(snap) {
			home := m.opts.Home
			if home == "" {
				home = snap.Supervisor.Home
			}
			ca = stack.Config{Home: home}.CACert()
		}
		return addr, ca, ""
	}
	for _, s := range snap.Services {
		if s.Name == stack.Daemon && s.State == supervisor.StateRunning {
			return "", "", "palyrad reports no admin address"
		}
		if s.Name == stack.Daemon {
			return "", "", daemonDown(s)
		}
	}
	return "", "", "this stack runs no palyrad"
}

// daemonDown says why palyrad is not running in the supervisor's words: its state, and for
// a fatal or restarting one the reason.
func daemonDown(s supervisor.ServiceStatus) string {
	why := "palyrad is " + string(s.State)
	if s.State == supervisor.StateBackoff {
		why = "palyrad is restarting"
		if s.Attempt > 0 {
			why += fmt.Sprintf(" (attempt %d)", s.Attempt)
		}
	}
	if s.Reason != "" && (s.State == supervisor.StateFatal || s.State == supervisor.StateBackoff) {
		why += ": " + textsafe.Clean(s.Reason) // from the service's own output
	}
	return why
}

// followDaemon connects to palyrad when a snapshot shows it running at a new address and
// lets go of it when it stops.
func (m *model) followDaemon(snap supervisor.Snapshot) tea.Cmd {
	addr, ca, why := m.adminAddr(snap)
	first := !m.link.tried
	m.link.tried = true
	if addr == "" && addr == m.link.addr && !first && why != m.link.conn.Problem {
		// Still down, but for another reason (starting, then fatal): say the new one.
		m.link.conn.Problem = why
		m.shareConn()
		return nil
	}
	if addr == m.link.addr && ca == m.link.ca && !first {
		return nil
	}
	closing := m.disconnect(why)
	m.link.addr, m.link.ca = addr, ca
	if addr == "" {
		return closing
	}
	return tea.Batch(closing, m.connect(snap.Supervisor.Home))
}

// connect loads the token, dials and asks palyrad who the token is, off the UI loop.
func (m *model) connect(supervisorHome string) tea.Cmd {
	m.link.gen++
	gen, addr, ca, tokenFile := m.link.gen, m.link.addr, m.link.ca, m.opts.TokenFile
	home := m.opts.Home
	if home == "" {
		home = supervisorHome
	}
	return func() tea.Msg {
		token, err := adminclient.LoadToken(home, tokenFile)
		if err != nil {
			return gatewayMsg{gen: gen, err: tokenError{err}}
		}
		c, err := adminclient.Dial(addr, token, adminclient.WithGatewayCA(ca))
		if err != nil {
			return gatewayMsg{gen: gen, err: err}
		}
		ctx, cancel := context.WithTimeout(context.Background(), whoAmITimeout)
		defer cancel()
		who, err := c.Access.WhoAmI(ctx, &palyrav1.WhoAmIRequest{})
		if err != nil {
			c.Close()
			return gatewayMsg{gen: gen, err: err}
		}
		return gatewayMsg{gen: gen, client: c, who: who}
	}
}

// disconnect ends the streams and returns the command that closes the client; problem
// says why, for the panes.
func (m *model) disconnect(problem string) tea.Cmd {
	m.link.gen++
	if m.link.cancel != nil {
		m.link.cancel()
		m.link.cancel = nil
	}
	c := m.link.conn.Client
	m.link.conn = gateway.Conn{Problem: problem}
	m.shareConn()
	return closeClient(c)
}

func closeClient(c *adminclient.Client) tea.Cmd {
	if c == nil {
		return nil
	}
	return func() tea.Msg {
		c.Close()
		return nil
	}
}

func (m *model) shareConn() {
	m.inventory.SetGateway(m.link.conn)
	m.approvals.SetGateway(m.link.conn)
	m.channels.SetGateway(m.link.conn)
	m.cockpit.SetOperate(m.operateRefusal())
	m.shareFacts()
}

// operateRefusal says why this UI may not start or stop services, "" when it may. The
// supervisor's socket admits this uid whatever the token; a scoped token keeps the UI
// read-only unless palyrad says it holds services.operate.
func (m model) operateRefusal() string {
	c := m.link.conn
	switch {
	case !m.opts.ScopedToken || c.Can(adminclient.ServicesOperate):
		return ""
	case c.Connected():
		return "this token (" + textsafe.Clean(c.Principal) + ") cannot start or stop services: it lacks " + adminclient.ServicesOperate
	}
	return "a scoped token starts and stops services only once palyrad confirms its " + adminclient.ServicesOperate +
		"; use the admin token meanwhile"
}

func (m *model) shareFacts() {
	f := cockpit.DaemonFacts{Known: m.link.tried, Problem: m.link.conn.Problem, Pending: m.approvals.Pending()}
	if s := m.channels.Summary(); s.Known {
		f.Channels = &cockpit.ChannelFacts{Connectors: s.Connectors, Failing: s.Failing, DeadLetters: int(s.DeadLetters), Inbox: int(s.Inbox), Agent: s.AgentAttached}
	}
	if s := m.inventory.Summary(); s != nil {
		f.Devices, f.Online = int(s.GetDevices()), int(s.GetOnline()+s.GetDegraded())
	}
	m.cockpit.SetDaemonFacts(f)
}

func (m model) updateGateway(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case gatewayMsg:
		if msg.gen != m.link.gen {
			return m, closeClient(msg.client)
		}
		if msg.err != nil {
			return m, m.gatewayLost(msg.err)
		}
		w := msg.who
		m.link.conn = gateway.Conn{
			Client: msg.client, Channels: gateway.NewChannels(msg.client),
			Principal: w.GetPrincipal(), Admin: w.GetAdmin(), Permissions: w.GetPermissions(),
		}
		m.logger.Info("gateway connected", "addr", m.link.addr, "principal", w.GetPrincipal())
		m.shareConn()
		if !m.link.conn.Can(gateway.ObservabilityRead) {
			return m, nil
		}
		ctx, cancel := context.WithCancel(context.Background())
		m.link.cancel = cancel
		return m, tea.Batch(watchInventory(ctx, m.link.gen, msg.client), watchApprovals(ctx, m.link.gen, msg.client),
			watchChannels(ctx, m.link.gen, m.link.conn.Channels))
	case gatewayRetryMsg:
		if msg.gen != m.link.gen || m.link.addr == "" {
			return m, nil
		}
		return m, m.connect(m.snap.Supervisor.Home)
	case inventoryMsg:
		if msg.gen != m.link.gen {
			return m, nil
		}
		if msg.err != nil {
			return m, m.gatewayLost(msg.err)
		}
		if msg.ev != nil {
			m.link.retry = firstRetry
			m.inventory.Apply(msg.ev)
			m.shareFacts()
		}
		return m, nextInventory(msg.gen, msg.stream)
	case channelsMsg:
		if msg.gen != m.link.gen {
			return m, nil
		}
		if msg.err != nil {
			// A lost connection ends the other watches too, and they reconnect; this one
			// failing alone (a palyrad without connectors) leaves the rest working.
			m.channels.SetUnavailable(gateway.Explain(msg.err))
			m.shareFacts()
			return m, nil
		}
		var refresh tea.Cmd
		if msg.list != nil {
			m.link.retry = firstRetry
			m.channels.SetList(msg.list)
			m.shareFacts()
			refresh = m.channels.Refresh()
		}
		return m, tea.Batch(refresh, nextChannels(msg.gen, msg.stream))
	case approvalMsg:
		if msg.gen != m.link.gen {
			return m, nil
		}
		if msg.err != nil {
			return m, m.gatewayLost(msg.err)
		}
		var bell tea.Cmd
		if msg.ev == nil {
			m.approvals.StreamOpened(m.opts.Now())
		} else {
			m.link.retry = firstRetry
			if m.approvals.Apply(msg.ev) {
				bell = tea.Raw("\a")
			}
		}
		m.shareFacts()
		return m, tea.Batch(bell, nextApproval(msg.gen, msg.stream))
	}
	return m, nil
}

// gatewayLost shows why palyrad cannot be used and tries again after 1 s, doubling up to
// 5 s; a token problem waits longer.
func (m *model) gatewayLost(err error) tea.Cmd {
	problem := gateway.Explain(err)
	delay := m.link.retry
	var noToken tokenError
	switch {
	case errors.As(err, &noToken):
		problem, delay = textsafe.Clean(noToken.Error()), refusedRetry
	case gateway.Unauthenticated(err):
		problem += ": use the admin token or pass a valid one with --token-file or $" + adminclient.TokenEnv
		delay = refusedRetry
	default:
		m.link.retry = min(m.link.retry*2, lastRetry)
	}
	if m.link.conn.Problem != problem {
		m.logger.Warn("gateway lost", "addr", m.link.addr, "problem", problem)
	}
	closing := m.disconnect(problem)
	gen := m.link.gen
	return tea.Batch(closing, m.tick(delay, func(time.Time) tea.Msg { return gatewayRetryMsg{gen: gen} }))
}

// watchInventory opens the inventory watch; it lives until ctx ends or palyrad ends it.
func watchInventory(ctx context.Context, gen int, c *adminclient.Client) tea.Cmd {
	return func() tea.Msg {
		s, err := c.Inventory.WatchInventory(ctx, &palyrav1.WatchInventoryRequest{})
		return inventoryMsg{gen: gen, stream: s, err: err}
	}
}

func nextInventory(gen int, s grpc.ServerStreamingClient[palyrav1.InventoryEvent]) tea.Cmd {
	return func() tea.Msg {
		ev, err := s.Recv()
		return inventoryMsg{gen: gen, stream: s, ev: ev, err: err}
	}
}

// watchApprovals opens the approvals watch; it lives until ctx ends or palyrad ends it.
func watchApprovals(ctx context.Context, gen int, c *adminclient.Client) tea.Cmd {
	return func() tea.Msg {
		s, err := c.Approvals.WatchApprovals(ctx, &palyrav1.WatchApprovalsRequest{})
		return approvalMsg{gen: gen, stream: s, err: err}
	}
}

func nextApproval(gen int, s grpc.ServerStreamingClient[palyrav1.ApprovalEvent]) tea.Cmd {
	return func() tea.Msg {
		ev, err := s.Recv()
		return approvalMsg{gen: gen, stream: s, ev: ev, err: err}
	}
}

// watchChannels opens the connector watch; it lives until ctx ends or palyrad ends it.
func watchChannels(ctx context.Context, gen int, api gateway.Channels) tea.Cmd {
	return func() tea.Msg {
		s, err := api.WatchConnectors(ctx)
		return channelsMsg{gen: gen, stream: s, err: err}
	}
}

func nextChannels(gen int, s gateway.ConnectorWatch) tea.Cmd {
	return func() tea.Msg {
		list, err := s.Recv()
		return channelsMsg{gen: gen, stream: s, list: list, err: err}
	}
}
