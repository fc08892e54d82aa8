package browserd

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/browserd/engine"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// Request bounds. Text a Type may enter is bounded by the engine's MaxTypeBytes.
const (
	maxSessionID = 64
	maxTabID     = 128
	maxSelector  = 2 << 10
	maxURL       = 8 << 10
	maxKey       = 64
	maxValue     = 2 << 10
	maxWaitText  = 2 << 10
	maxScroll    = 1_000_000
)

// api is palyra.v1.BrowserService over one engine.
type api struct {
	palyrav1.UnimplementedBrowserServiceServer
	b *Browserd
}

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

func checkLen(field, v string, limit int, required bool) error {
	if required && v == "" {
		return invalid("%s is required", field)
	}
	if len(v) > limit {
		return invalid("%s is %d bytes, over the limit of %d", field, len(v), limit)
	}
	return nil
}

func checkSession(id string) error { return checkLen("session_id", id, maxSessionID, true) }

// statusOf turns an engine error into a gRPC status with the engine's words.
func statusOf(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Internal
	switch {
	case errors.Is(err, engine.ErrInvalid):
		code = codes.InvalidArgument
	case errors.Is(err, engine.ErrSessionNotFound):
		code = codes.NotFound
	case errors.Is(err, engine.ErrSessionEnded), errors.Is(err, engine.ErrExpired), errors.Is(err, engine.ErrBrowserCrashed):
		code = codes.FailedPrecondition
	case errors.Is(err, engine.ErrRefused):
		code = codes.PermissionDenied
	case errors.Is(err, engine.ErrLoad):
		code = codes.FailedPrecondition // about the target, not browserd
	case errors.Is(err, engine.ErrNotFound):
		code = codes.FailedPrecondition // an element, not the session: the session lives on
	case errors.Is(err, engine.ErrTooManySessions), errors.Is(err, engine.ErrBudget), errors.Is(err, engine.ErrTooLarge):
		code = codes.ResourceExhausted
	case errors.Is(err, engine.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, engine.ErrUnavailable), errors.Is(err, engine.ErrEngineClosed):
		code = codes.Unavailable
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	}
	return status.Error(code, err.Error())
}

func unixMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func (a *api) Health(context.Context, *palyrav1.BrowserHealthRequest) (*palyrav1.BrowserHealth, error) {
	h := a.b.engine.Health()
	return &palyrav1.BrowserHealth{
		Status:          string(h.Status),
		Reason:          h.Reason,
		BrowserPid:      int32(h.BrowserPID),
		BrowserVersion:  h.BrowserVersion,
		Sessions:        int32(h.Sessions),
		Restarts:        int32(h.Restarts),
		LastCrash:       h.LastCrash,
		LastCrashUnixMs: unixMS(h.LastCrashAt),
		AllowPrivate:    a.b.allowPrivate,
		MaxSessions:     int32(a.b.maxSessions),
	}, nil
}

func (a *api) session(info engine.SessionInfo) *palyrav1.BrowserSession {
	return &palyrav1.BrowserSession{
		SessionId:           info.ID,
		CreatedUnixMs:       unixMS(info.CreatedAt),
		LastActiveUnixMs:    unixMS(info.LastActive),
		Actions:             int32(info.Actions),
		Tabs:                int32(info.Tabs),
		Url:                 info.URL,
		AllowPrivateTargets: a.b.guard.private(info.ID),
	}
}

func (a *api) CreateSession(ctx context.Context, req *palyrav1.CreateSessionRequest) (*palyrav1.BrowserSession, error) {
	if req.GetAllowPrivateTargets() && !a.b.allowPrivate {
		return nil, status.Error(codes.PermissionDenied, "private targets are not allowed on this palyra-browserd; start it with --allow-private (or PALYRA_BROWSER_ALLOW_PRIVATE=1) to let sessions ask for them")
	}
	info, err := a.b.engine.Create(ctx)
	if err != nil {
		return nil, statusOf(err)
	}
	if err := a.b.guard.ready(info.ID); err != nil {
		a.b.engine.CloseSession(info.ID)
		a.b.guard.release(info.ID)
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	if req.GetAllowPrivateTargets() {
		a.b.guard.allowPrivate(info.ID)
	}
	a.b.log.Info("session created", "session", info.ID, "allow_private_targets", req.GetAllowPrivateTargets())
	return a.session(info), nil
}

func (a *api) ListSessions(context.Context, *palyrav1.ListSessionsRequest) (*palyrav1.ListSessionsReply, error) {
	reply := &palyrav1.ListSessionsReply{}
	for _, info := range a.b.engine.List() {
		reply.Sessions = append(reply.Sessions, a.session(info))
	}
	return reply, nil
}

func (a *api) GetSession(_ context.Context, req *palyrav1.SessionRequest) (*palyrav1.BrowserSession, error) {
	if err := checkSession(req.GetSessionId()); err != nil {
		return nil, err
	}
	info, err := a.b.engine.Get(req.GetSessionId())
	if err != nil {
		return nil, statusOf(err)
	}
	return a.session(info), nil
}

func (a *api) CloseSession(_ context.Context, req *palyrav1.SessionRequest) (*palyrav1.CloseSessionReply, error) {
	if err := checkSession(req.GetSessionId()); err != nil {
		return nil, err
	}
	if err := a.b.engine.CloseSession(req.GetSessionId()); err != nil {
		return nil, statusOf(err)
	}
	a.b.guard.release(req.GetSessionId())
	a.b.log.Info("session closed", "session", req.GetSessionId())
	return &palyrav1.CloseSessionReply{}, nil
}

func (a *api) Navigate(ctx context.Context, req *palyrav1.NavigateRequest) (*palyrav1.NavigateReply, error) {
	if err := checkSession(req.GetSessionId()); err != nil {
		return nil, err
	}
	if err := checkLen("url", req.GetUrl(), maxURL, true); err != nil {
		return nil, err
	}
	res, err := a.b.engine.Navigate(ctx, req.GetSessionId(), req.GetUrl())
	if err != nil {
		return nil, statusOf(err)
	}
	return &palyrav1.NavigateReply{Url: res.URL, Status: int32(res.Status), Title: res.Title}, nil
}

func (a *api) Click(ctx context.Context, req *palyrav1.ClickRequest) (*palyrav1.ActionReply, error) {
	if err := checkSession(req.GetSessionId()); err != nil {
		return nil, err
	}
	if err := checkLen("selector", req.GetSelector(), maxSelector, true); err != nil {
		return nil, err
	}
	return actionReply(a.b.engine.Click(ctx, req.GetSessionId(), req.GetSelector()))
}

func (a *api) Type(ctx context.Context, req *palyrav1.TypeRequest) (*palyrav1.ActionReply, error) {
	if err := checkSession(req.GetSessionId()); err != nil {
		return nil, err
	}
	if err := checkLen("selector", req.GetSelector(), maxSelector, true); err != nil {
		return nil, err
	}
	if err := checkLen("text", req.GetText(), a.b.maxTypeBytes, false); err != nil {
		return nil, err
	}
	return actionReply(a.b.engine.Type(ctx, req.GetSessionId(), req.GetSelector(), req.GetText(), req.GetClear()))
}

func (a *api) Press(ctx context.Context, req *palyrav1.PressRequest) (*palyrav1.ActionReply, error) {
	if err := checkSession(req.GetSessionId()); err != nil {
		return nil, err
	}
	if err := checkLen("key", req.GetKey(), maxKey, true); err != nil {
		return nil, err
	}
	return actionReply(a.b.engine.Press(ctx, req.GetSessionId(), req.GetKey()))
}

func (a *api) Select(ctx context.Context, req *palyrav1.SelectRequest) (*palyrav1.ActionReply, error) {
	if err := checkSession(req.GetSessionId()); err != nil {
		return nil, err
	}
	if err := checkLen("selector", req.GetSelector(), maxSelector, true); err != nil {
		return nil, err
	}
	if err := checkLen("value", req.GetValue(), maxValue, false); err != nil {
		return nil, err
	}
	return actionReply(a.b.engine.Select(ctx, req.GetSessionId(), req.GetSelector(), req.GetValue()))
}

func (a *api) Scroll(ctx context.Context, req *palyrav1.ScrollRequest) (*palyrav1.ScrollReply, error) {
	if err := checkSession(req.GetSessionId()); err != nil {
		return nil, err
	}
	if abs(req.GetDx()) > maxScroll || abs(req.GetDy()) > maxScroll {
		return nil, invalid("dx and dy must be within ±%d", maxScroll)
	}
	x, y, err := a.b.engine.Scroll(ctx, req.GetSessionId(), int(req.GetDx()), int(req.GetDy()))
	if err != nil {
		return nil, statusOf(err)
	}
	return &palyrav1.ScrollReply{X: int32(x), Y: int32(y)}, nil
}

func abs(v int32) int64 {
	if v < 0 {
		return -int64(v)
	}
	return int64(v)
}

func (a *api) WaitFor(ctx context.Context, req *palyrav1.WaitForRequest) (*palyrav1.ActionReply, error) {
	if err := checkSession(req.GetSessionId()); err != nil {
		return nil, err
	}
	if (req.GetSelector() == "") == (req.GetText() == "") {
		return nil, invalid("give one of selector and text")
	}
	if err := checkLen("selector", req.GetSelector(), maxSelector, false); err != nil {
		return nil, err
	}
	if err := checkLen("text", req.GetText(), maxWaitText, false); err != nil {
		return nil, err
	}
	if req.GetTimeoutMs() < 0 || time.Duration(req.GetTimeoutMs())*time.Millisecond > a.b.maxWait {
		return nil, invalid("timeout_ms must be between 0 and %d (the navigation timeout)", a.b.maxWait.Milliseconds())
	}
	err := a.b.engine.WaitFor(ctx, req.GetSessionId(), engine.Wait{
		Selector: req.GetSelector(),
		Text:     req.GetText(),
		Timeout:  time.Duration(req.GetTimeoutMs()) * time.Millisecond,
	})
	return actionReply(err)
}

func (a *api) Title(ctx context.Context, req *palyrav1.SessionRequest) (*palyrav1.TitleReply, error) {
	if err := checkSession(req.GetSessionId()); err != nil {
		return nil, err
	}
	title, err := a.b.engine.Title(ctx, req.GetSessionId())
	if err != nil {
		return nil, statusOf(err)
	}
	return &palyrav1.TitleReply{Title: title}, nil
}

func (a *api) Text(ctx context.Context, req *palyrav1.SessionRequest) (*palyrav1.TextReply, error) {
	if err := checkSession(req.GetSessionId()); err != nil {
		return nil, err
	}
	text, truncated, err := a.b.engine.Text(ctx, req.GetSessionId())
	if err != nil {
		return nil, statusOf(err)
	}
	return &palyrav1.TextReply{Text: text, Truncated: truncated}, nil
}

func (a *api) Snapshot(ctx context.Context, req *palyrav1.SessionRequest) (*palyrav1.SnapshotReply, error) {
	if err := checkSession(req.GetSessionId()); err != nil {
		return nil, err
	}
	snap, err := a.b.engine.Snapshot(ctx, req.GetSessionId())
	if err != nil {
		return nil, statusOf(err)
	}
	reply := &palyrav1.SnapshotReply{Url: snap.URL, Title: snap.Title, Text: snap.Text, Truncated: snap.Truncated}
	for _, n := range snap.Nodes {
		reply.Nodes = append(reply.Nodes, &palyrav1.SnapshotNode{
			Ref: n.Ref, Role: n.Role, Name: n.Name, Value: n.Value, Depth: int32(n.Depth), State: n.State,
		})
	}
	return reply, nil
}

func (a *api) Screenshot(ctx context.Context, req *palyrav1.SessionRequest) (*palyrav1.ScreenshotReply, error) {
	if err := checkSession(req.GetSessionId()); err != nil {
		return nil, err
	}
	png, err := a.b.engine.Screenshot(ctx, req.GetSessionId())
	if err != nil {
		return nil, statusOf(err)
	}
	return &palyrav1.ScreenshotReply{Png: png}, nil
}

func tabOf(t engine.Tab) *palyrav1.BrowserTab {
	return &palyrav1.BrowserTab{TabId: t.ID, Url: t.URL, Title: t.Title, Active: t.Active}
}

func (a *api) Tabs(ctx context.Context, req *palyrav1.SessionRequest) (*palyrav1.TabsReply, error) {
	if err := checkSession(req.GetSessionId()); err != nil {
		return nil, err
	}
	tabs, err := a.b.engine.Tabs(ctx, req.GetSessionId())
	if err != nil {
		return nil, statusOf(err)
	}
	reply := &palyrav1.TabsReply{}
	for _, t := range tabs {
		reply.Tabs = append(reply.Tabs, tabOf(t))
	}
	return reply, nil
}

func (a *api) OpenTab(ctx context.Context, req *palyrav1.SessionRequest) (*palyrav1.BrowserTab, error) {
	if err := checkSession(req.GetSessionId()); err != nil {
		return nil, err
	}
	t, err := a.b.engine.OpenTab(ctx, req.GetSessionId())
	if err != nil {
		return nil, statusOf(err)
	}
	return tabOf(t), nil
}

func checkTab(req *palyrav1.TabRequest) error {
	if err := checkSession(req.GetSessionId()); err != nil {
		return err
	}
	return checkLen("tab_id", req.GetTabId(), maxTabID, true)
}

func (a *api) SwitchTab(ctx context.Context, req *palyrav1.TabRequest) (*palyrav1.ActionReply, error) {
	if err := checkTab(req); err != nil {
		return nil, err
	}
	return actionReply(a.b.engine.SwitchTab(ctx, req.GetSessionId(), req.GetTabId()))
}

func (a *api) CloseTab(ctx context.Context, req *palyrav1.TabRequest) (*palyrav1.ActionReply, error) {
	if err := checkTab(req); err != nil {
		return nil, err
	}
	return actionReply(a.b.engine.CloseTab(ctx, req.GetSessionId(), req.GetTabId()))
}

func (a *api) Logs(_ context.Context, req *palyrav1.SessionRequest) (*palyrav1.LogsReply, error) {
	if err := checkSession(req.GetSessionId()); err != nil {
		return nil, err
	}
	logs, err := a.b.engine.Logs(req.GetSessionId())
	if err != nil {
		return nil, statusOf(err)
	}
	reply := &palyrav1.LogsReply{ConsoleDropped: int32(logs.ConsoleDropped), NetworkDropped: int32(logs.NetworkDropped)}
	for _, c := range logs.Console {
		reply.Console = append(reply.Console, &palyrav1.ConsoleEntry{TimeUnixMs: unixMS(c.Time), Level: c.Level, Text: c.Text, Url: c.URL})
	}
	for _, n := range logs.Network {
		reply.Network = append(reply.Network, &palyrav1.NetworkEntry{
			TimeUnixMs: unixMS(n.Time), Method: n.Method, Url: n.URL, Type: n.Type, Status: int32(n.Status),
			MimeType: n.MIMEType, RemoteAddr: n.RemoteAddr, Error: n.Error, Refused: n.Refused,
		})
	}
	return reply, nil
}

func (a *api) Downloads(_ context.Context, req *palyrav1.SessionRequest) (*palyrav1.DownloadsReply, error) {
	if err := checkSession(req.GetSessionId()); err != nil {
		return nil, err
	}
	downloads, err := a.b.engine.Downloads(req.GetSessionId())
	if err != nil {
		return nil, statusOf(err)
	}
	reply := &palyrav1.DownloadsReply{}
	for _, d := range downloads {
		reply.Downloads = append(reply.Downloads, &palyrav1.Download{
			Guid: d.GUID, Url: d.URL, Name: d.Name, Bytes: d.Bytes, State: d.State, Error: d.Error,
			StartedUnixMs: unixMS(d.Started), FinishedUnixMs: unixMS(d.Finished),
		})
	}
	return reply, nil
}

func actionReply(err error) (*palyrav1.ActionReply, error) {
	if err != nil {
		return nil, statusOf(err)
	}
	return &palyrav1.ActionReply{}, nil
}
