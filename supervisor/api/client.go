package api

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/supervisor/logs"
)

// ErrNotRunning means no supervisor answers on the socket.
var ErrNotRunning = errors.New("the supervisor is not running")

// Client talks to a supervisor server over its unix socket.
type Client struct {
	socket string
	conn   *grpc.ClientConn
	rpc    palyrav1.SupervisorServiceClient
}

// Dial prepares a client for the socket at path. It does not connect until the first call.
func Dial(path string) (*Client, error) {
	conn, err := grpc.NewClient("unix://"+path,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(8<<20)),
		grpc.WithReadBufferSize(streamBuffer), grpc.WithInitialWindowSize(streamWindow), grpc.WithInitialConnWindowSize(streamWindow),
	)
	if err != nil {
		return nil, fmt.Errorf("supervisor socket %s: %w", path, err)
	}
	return &Client{socket: path, conn: conn, rpc: palyrav1.NewSupervisorServiceClient(conn)}, nil
}

// Close releases the connection.
func (c *Client) Close() error { return c.conn.Close() }

// mapErr turns transport failures into ErrNotRunning and keeps the server's message otherwise.
func (c *Client) mapErr(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.Unavailable:
		return fmt.Errorf("%w (nothing answers on %s)", ErrNotRunning, c.socket)
	case codes.Canceled, codes.DeadlineExceeded:
		return err
	case codes.NotFound:
		// The server's only NotFound: a service name it does not run.
		return serverError{msg: st.Message(), is: supervisor.ErrUnknownService}
	default:
		return errors.New(st.Message())
	}
}

// serverError is the server's message, matching the sentinel is with errors.Is.
type serverError struct {
	msg string
	is  error
}

func (e serverError) Error() string { return e.msg }
func (e serverError) Unwrap() error { return e.is }

// GetSnapshot returns the current snapshot.
func (c *Client) GetSnapshot(ctx context.Context) (supervisor.Snapshot, error) {
	p, err := c.rpc.GetSnapshot(ctx, &palyrav1.GetSnapshotRequest{})
	if err != nil {
		return supervisor.Snapshot{}, c.mapErr(err)
	}
	return snapshotFromProto(p), nil
}

// WatchSnapshots streams the current snapshot and one per change until ctx ends. A caller
// that reads slowly gets the newest snapshot, not each one it missed.
func (c *Client) WatchSnapshots(ctx context.Context) (SnapshotStream, error) {
	s, err := c.rpc.WatchSnapshots(ctx, &palyrav1.WatchSnapshotsRequest{})
	if err != nil {
		return nil, c.mapErr(err)
	}
	w := &snapshotStream{latest: make(chan *palyrav1.Snapshot, 1), done: make(chan struct{})}
	// The server sends every change as long as the transport takes it, and gRPC buffers at
	// least 64 KiB per stream, so the coalescing happens here: this goroutine reads as fast
	// as snapshots come and keeps only the newest. It ends with the stream, that is when ctx
	// ends, the server stops or the client is closed.
	go func() {
		for {
			p, err := s.Recv()
			if err != nil {
				w.err = c.mapStreamErr(err)
				close(w.done)
				return
			}
			select {
			case <-w.latest: // replaced by the newer one
			default:
			}
			w.latest <- p // the only sender, so there is room now
		}
	}()
	return w, nil
}

type snapshotStream struct {
	latest chan *palyrav1.Snapshot // the newest unread snapshot
	done   chan struct{}           // closed when the stream has ended, after err is set
	err    error
}

func (s *snapshotStream) Recv() (supervisor.Snapshot, error) {
	select {
	case p := <-s.latest:
		return snapshotFromProto(p), nil
	case <-s.done:
	}
	select {
	case p := <-s.latest: // the last snapshot before the end
		return snapshotFromProto(p), nil
	default:
		return supervisor.Snapshot{}, s.err
	}
}

func (c *Client) mapStreamErr(err error) error {
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	return c.mapErr(err)
}

// Logs streams the lines q selects.
func (c *Client) Logs(ctx context.Context, q LogQuery) (LogStream, error) {
	req := &palyrav1.LogsRequest{Services: q.Services, Tail: int32(q.Tail), Follow: q.Follow, Grep: q.Grep}
	if !q.Since.IsZero() {
		req.Since = timestamppb.New(q.Since)
	}
	s, err := c.rpc.Logs(ctx, req)
	if err != nil {
		return nil, c.mapErr(err)
	}
	return logStream{c: c, s: s}, nil
}

type logStream struct {
	c *Client
	s grpc.ServerStreamingClient[palyrav1.LogBatch]
}

func (s logStream) Recv() (LogBatch, error) {
	p, err := s.s.Recv()
	if err != nil {
		return LogBatch{}, s.c.mapStreamErr(err)
	}
	lines := linesFromProto(p.GetLines())
	for _, b := range p.GetBlocks() {
		lines = logs.AppendLines(lines, logs.Block{Service: b.GetService(), Records: b.GetRecords()})
	}
	return LogBatch{Lines: lines, Dropped: p.GetDropped(), Unstored: p.GetUnstored(), Behind: p.GetBehindBytes()}, nil
}

// StartService starts one service or "all".
func (c *Client) StartService(ctx context.Context, name string) ([]supervisor.ServiceStatus, error) {
	r, err := c.rpc.StartService(ctx, &palyrav1.ServiceRequest{Name: name})
	if err != nil {
		return nil, c.mapErr(err)
	}
	return statusesFromProto(r.GetServices()), nil
}

// StopService stops one service or "all" and returns once stopped.
func (c *Client) StopService(ctx context.Context, name string) ([]supervisor.ServiceStatus, error) {
	r, err := c.rpc.StopService(ctx, &palyrav1.ServiceRequest{Name: name})
	if err != nil {
		return nil, c.mapErr(err)
	}
	return statusesFromProto(r.GetServices()), nil
}

// RestartService restarts one service or "all".
func (c *Client) RestartService(ctx context.Context, name string) ([]supervisor.ServiceStatus, error) {
	r, err := c.rpc.RestartService(ctx, &palyrav1.ServiceRequest{Name: name})
	if err != nil {
		return nil, c.mapErr(err)
	}
	return statusesFromProto(r.GetServices()), nil
}

// Preflight runs the environment checks on the server.
func (c *Client) Preflight(ctx context.Context) ([]supervisor.Check, error) {
	r, err := c.rpc.Preflight(ctx, &palyrav1.PreflightRequest{})
	if err != nil {
		return nil, c.mapErr(err)
	}
	return checksFromProto(r.GetChecks()), nil
}

// Shutdown asks the server to stop every service and exit.
func (c *Client) Shutdown(ctx context.Context) error {
	_, err := c.rpc.Shutdown(ctx, &palyrav1.ShutdownRequest{})
	return c.mapErr(err)
}
