package nodes

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/palyra/palyra/daemon/store"
	"github.com/palyra/palyra/internal/redact"
	"github.com/palyra/palyra/internal/textsafe"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// Limits of a capability call.
const (
	MaxInput         = 64 << 10
	DefaultTimeout   = 30 * time.Second
	MinTimeout       = time.Second
	MaxTimeout       = 120 * time.Second
	DefaultMaxOutput = 64 << 10
	MaxOutput        = 1 << 20
	// summaryLen is how many characters of a call's input its record keeps.
	summaryLen = 240
	// batchDelay gathers the call records written together.
	batchDelay = 100 * time.Millisecond
)

// call is a capability call until it is over. rec and output are guarded by
// Runtime.callsMu; done is closed when it is over.
type call struct {
	rec       store.CapabilityCall
	conn      *conn
	maxOutput uint32
	output    []byte
	done      chan struct{}
}

// Invoke runs a capability on a connected, trusted device and waits for the result. A call
// that fails or times out is returned with that state, not as an error; errors say the call
// could not be made (ErrNotFound, ErrInvalid, ErrUnavailable) or that ctx ended first.
func (r *Runtime) Invoke(ctx context.Context, req *palyrav1.InvokeRequest, requester string) (*palyrav1.CapabilityCall, error) {
	input := req.GetInput()
	switch {
	case req.GetDeviceId() == "" || req.GetCapability() == "":
		return nil, fmt.Errorf("%w: a call needs a device id and a capability", ErrInvalid)
	case len(input) > MaxInput:
		return nil, fmt.Errorf("%w: input is %d bytes, at most %d", ErrInvalid, len(input), MaxInput)
	case len(input) == 0:
		input = []byte("{}")
	case !json.Valid(input):
		return nil, fmt.Errorf("%w: input is not valid JSON", ErrInvalid)
	}
	timeout := DefaultTimeout
	if ms := req.GetTimeoutMs(); ms != 0 {
		timeout = min(max(time.Duration(ms)*time.Millisecond, MinTimeout), MaxTimeout)
	}
	maxOutput := req.GetMaxOutputBytes()
	if maxOutput == 0 {
		maxOutput = DefaultMaxOutput
	}
	maxOutput = min(maxOutput, MaxOutput)

	c, err := r.target(req.GetDeviceId(), req.GetCapability())
	if err != nil {
		return nil, err
	}
	now := r.now()
	cl := &call{
		rec: store.CapabilityCall{
			ID: randomID("call-", 12), DeviceID: req.GetDeviceId(), Capability: req.GetCapability(),
			State: store.CallQueued, Requester: requester, CreatedAt: now, UpdatedAt: now,
			InputSummary: summarize(input),
		},
		conn: c, maxOutput: maxOutput, done: make(chan struct{}),
	}
	r.callsMu.Lock()
	r.calls[cl.rec.ID] = cl
	r.callsMu.Unlock()
	r.callLog.record(cl.rec)

	msg := &palyrav1.GatewayMessage{Msg: &palyrav1.GatewayMessage_Call{Call: &palyrav1.CapabilityInvocation{
		CallId: cl.rec.ID, Capability: cl.rec.Capability, Input: input, MaxOutputBytes: maxOutput,
		DeadlineUnixMs: now.Add(timeout).UnixMilli(),
	}}}
	if err := c.dispatch(cl, msg); err != nil {
		r.finishCall(cl, store.CallFailed, err.Error(), nil)
	} else {
		r.advanceCall(cl, store.CallDispatched)
	}

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-cl.done:
	case <-timer.C:
		r.finishCall(cl, store.CallTimedOut, fmt.Sprintf("no result from the node within %v", timeout), nil)
	case <-ctx.Done():
		r.finishCall(cl, store.CallFailed, "the requester stopped waiting", nil)
		return nil, ctx.Err()
	}
	r.callsMu.Lock()
	defer r.callsMu.Unlock()
	return callProto(cl.rec, cl.output), nil
}

// target returns the live session that can take a call of capability on device id.
func (r *Runtime) target(id, capability string) (*conn, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d := r.devices[id]
	switch {
	case d == nil || d.rec.Trust == TrustRemoved:
		return nil, fmt.Errorf("%w: no device %q", ErrNotFound, id)
	case d.rec.Trust != TrustTrusted:
		return nil, fmt.Errorf("%w: device %s is %s", ErrUnavailable, id, d.rec.Trust)
	case d.conn == nil:
		return nil, fmt.Errorf("%w: device %s is offline", ErrUnavailable, id)
	}
	i := slices.IndexFunc(d.rec.Capabilities, func(c store.Capability) bool { return c.Name == capability })
	switch {
	case i < 0:
		return nil, fmt.Errorf("%w: device %s does not offer capability %q", ErrUnavailable, id, capability)
	case !d.available(d.rec.Capabilities[i]):
		return nil, fmt.Errorf("%w: capability %q of device %s is unavailable", ErrUnavailable, capability, id)
	}
	return d.conn, nil
}

// advanceCall moves a call that is not over to state.
func (r *Runtime) advanceCall(cl *call, state string) {
	r.callsMu.Lock()
	if store.CallFinal(cl.rec.State) || cl.rec.State == state {
		r.callsMu.Unlock()
		return
	}
	cl.rec.State, cl.rec.UpdatedAt = state, r.now()
	rec := cl.rec
	r.callsMu.Unlock()
	r.callLog.record(rec)
}

// finishCall ends a call in a final state unless it is over already, and reports whether it
// did.
func (r *Runtime) finishCall(cl *call, state, errText string, output []byte) bool {
	r.callsMu.Lock()
	if store.CallFinal(cl.rec.State) {
		r.callsMu.Unlock()
		return false
	}
	cl.rec.State, cl.rec.Error, cl.rec.UpdatedAt = state, errText, r.now()
	cl.output = output
	delete(r.calls, cl.rec.ID)
	r.finished.add(cl.rec.ID, cl.rec.DeviceID)
	rec := cl.rec
	close(cl.done)
	r.callsMu.Unlock()
	cl.conn.forget(rec.ID)
	r.callLog.record(rec)
	return true
}

func callProto(c store.CapabilityCall, output []byte) *palyrav1.CapabilityCall {
	return &palyrav1.CapabilityCall{
		Id: c.ID, DeviceId: c.DeviceID, Capability: c.Capability, State: c.State, Requester: c.Requester,
		CreatedUnixMs: unixMs(c.CreatedAt), UpdatedUnixMs: unixMs(c.UpdatedAt), Error: c.Error, Output: output,
		InputSummary: c.InputSummary,
	}
}

// summarize is what a call record keeps of its input: redacted, printable, and cut short.
func summarize(input []byte) string {
	return cut(redact.Line(textsafe.Clean(string(input))), summaryLen)
}

// cut shortens s to at most n characters, marking the cut with an ellipsis.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	runes := []rune(s)
	return string(runes[:n-1]) + "…"
}

// finishedCalls remembers the devices of the last calls to finish, so that a result that
// arrives after its call timed out is told apart from one for a call that never was.
type finishedCalls struct {
	device map[string]string
	order  []string
	next   int
}

func newFinishedCalls(n int) finishedCalls {
	return finishedCalls{device: make(map[string]string, n), order: make([]string, n)}
}

func (f *finishedCalls) add(callID, deviceID string) {
	delete(f.device, f.order[f.next])
	f.order[f.next] = callID
	f.device[callID] = deviceID
	f.next = (f.next + 1) % len(f.order)
}

// callLog writes call records in batches from the background, so a call costs no fsync.
type callLog struct {
	st  *store.Store
	log *slog.Logger

	mu      sync.Mutex
	dirty   map[string]store.CapabilityCall // newest version of each call not yet written
	writing map[string]store.CapabilityCall // the batch being written
	kick    chan struct{}
}

func newCallLog(st *store.Store, log *slog.Logger) *callLog {
	return &callLog{st: st, log: log, dirty: map[string]store.CapabilityCall{}, kick: make(chan struct{}, 1)}
}

// record queues c to be written; a newer version of a call replaces an older one unwritten.
func (l *callLog) record(c store.CapabilityCall) {
	l.mu.Lock()
	l.dirty[c.ID] = c
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// run writes what is recorded, batchDelay after the first record of a batch, until ctx
// ends; then it writes what is left.
func (l *callLog) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			l.flush()
			return
		case <-l.kick:
		}
		select {
		case <-ctx.Done():
		case <-time.After(batchDelay):
		}
		l.flush()
	}
}

func (l *callLog) flush() {
	l.mu.Lock()
	batch := l.dirty
	if len(batch) == 0 {
		l.mu.Unlock()
		return
	}
	l.dirty, l.writing = map[string]store.CapabilityCall{}, batch
	l.mu.Unlock()

	calls := make([]store.CapabilityCall, 0, len(batch))
	for _, c := range batch {
		calls = append(calls, c)
	}
	err := l.st.PutCalls(calls, CallsKept)

	l.mu.Lock()
	defer l.mu.Unlock()
	l.writing = nil
	if err != nil {
		l.log.Error("write capability call records; retrying with the next batch", "calls", len(calls), "err", err)
		for id, c := range batch {
			if _, newer := l.dirty[id]; !newer {
				l.dirty[id] = c
			}
		}
	}
}

// unwritten returns the records of device's calls not yet in the store, newest versions.
func (l *callLog) unwritten(deviceID string) []store.CapabilityCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []store.CapabilityCall
	for id, c := range l.writing {
		if _, newer := l.dirty[id]; !newer && c.DeviceID == deviceID {
			out = append(out, c)
		}
	}
	for _, c := range l.dirty {
		if c.DeviceID == deviceID {
			out = append(out, c)
		}
	}
	return out
}
