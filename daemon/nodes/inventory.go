package nodes

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palyra/palyra/daemon/store"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// Page sizes of ListDevices.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// recentCalls is how many calls GetDevice shows.
const recentCalls = 20

// device is a device in memory. rec, conn, stale and the lower-cased fields are guarded by
// Runtime.mu; id never changes; the times are atomic, so a heartbeat takes no write lock.
type device struct {
	id        string
	rec       store.Device
	conn      *conn // the live session; nil when offline
	stale     bool  // connected but silent
	lowerName string
	lowerPlat string
	lastSeen  atomic.Int64 // unix ms
	savedSeen atomic.Int64 // unix ms, as last written to the store
}

func newDevice(rec store.Device) *device {
	d := &device{id: rec.ID}
	d.set(rec)
	if !rec.LastSeen.IsZero() {
		d.lastSeen.Store(rec.LastSeen.UnixMilli())
		d.savedSeen.Store(rec.LastSeen.UnixMilli())
	}
	return d
}

// set replaces the record; the caller holds Runtime.mu for writing (or owns d alone).
func (d *device) set(rec store.Device) {
	d.rec = rec
	d.lowerName = strings.ToLower(rec.Name)
	d.lowerPlat = strings.ToLower(rec.Platform)
}

// snapshot is a copy of the record with the current last-seen time, safe to change: the
// caller holds Runtime.mu.
func (d *device) snapshot() store.Device {
	rec := d.rec
	rec.Capabilities = slices.Clone(rec.Capabilities)
	rec.Overrides = cloneMap(rec.Overrides)
	if ms := d.lastSeen.Load(); ms != 0 {
		rec.LastSeen = time.UnixMilli(ms)
	}
	return rec
}

func cloneMap(m map[string]bool) map[string]bool {
	if m == nil {
		return nil
	}
	out := make(map[string]bool, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// available is whether capability name may be called: the operator's word, else the node's.
func (d *device) available(c store.Capability) bool {
	if v, ok := d.rec.Overrides[c.Name]; ok {
		return v
	}
	return c.Available
}

func (d *device) presence() string {
	switch {
	case d.conn == nil || d.rec.Trust != TrustTrusted:
		return PresenceOffline
	case d.stale:
		return PresenceStale
	}
	for _, c := range d.rec.Capabilities {
		if !d.available(c) {
			return PresenceDegraded
		}
	}
	return PresenceOnline
}

// proto is d for the admin API; the caller holds Runtime.mu.
func (d *device) proto() *palyrav1.Device {
	rec := d.rec
	p := &palyrav1.Device{
		Id: rec.ID, Name: rec.Name, Platform: rec.Platform, Trust: rec.Trust, Presence: d.presence(),
		LastSeenUnixMs: d.lastSeen.Load(), PairedUnixMs: unixMs(rec.PairedAt),
		CertFingerprint: rec.CertFingerprint, CertExpiresUnixMs: unixMs(rec.CertExpiresAt),
		KeyFingerprint: rec.KeyFingerprint, ApprovalId: rec.ApprovalID, RevokedReason: rec.RevokedReason,
		RevokedUnixMs: unixMs(rec.RevokedAt), NodeVersion: rec.NodeVersion, Peer: rec.Peer,
	}
	for _, c := range rec.Capabilities {
		p.Capabilities = append(p.Capabilities, &palyrav1.Capability{Name: c.Name, Available: d.available(c), Mediated: c.Mediated})
	}
	return p
}

func unixMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// addDeviceLocked indexes d; the caller holds r.mu for writing (or owns r alone).
func (r *Runtime) addDeviceLocked(d *device) {
	r.devices[d.id] = d
	for _, fp := range []string{d.rec.CertFingerprint, d.rec.PrevCertFingerprint} {
		if fp != "" {
			r.byCert[fp] = d
		}
	}
}

// Summary counts the devices (removed ones aside) by trust and presence, and the pending
// pairing requests.
func (r *Runtime) Summary() *palyrav1.InventorySummary {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.summaryLocked()
}

func (r *Runtime) summaryLocked() *palyrav1.InventorySummary {
	s := &palyrav1.InventorySummary{PendingPairings: uint32(len(r.pending))}
	for _, d := range r.devices {
		if d.rec.Trust != TrustRemoved {
			countDevice(s, d.rec.Trust, d.presence())
		}
	}
	return s
}

// countDevice adds a device that was not removed to the summary s.
func countDevice(s *palyrav1.InventorySummary, trust, presence string) {
	s.Devices++
	switch trust {
	case TrustTrusted:
		s.Trusted++
	case TrustRevoked:
		s.Revoked++
	}
	switch presence {
	case PresenceOnline:
		s.Online++
	case PresenceDegraded:
		s.Degraded++
	case PresenceStale:
		s.Stale++
	default:
		s.Offline++
	}
}

// listEntry is a device with the keys it sorts by, fixed before sorting begins: num for the
// numeric sorts, str for the textual ones; ties fall to the id.
type listEntry struct {
	d   *device
	num int64
	str string
}

func compareEntries(a, b listEntry) int {
	if a.num != b.num {
		return cmp.Compare(a.num, b.num)
	}
	if c := strings.Compare(a.str, b.str); c != 0 {
		return c
	}
	return strings.Compare(a.d.id, b.d.id)
}

// Ranks for sorting by presence and trust, healthiest first.
var (
	presenceRank = map[string]int64{PresenceOnline: 0, PresenceDegraded: 1, PresenceStale: 2, PresenceOffline: 3}
	trustRank    = map[string]int64{TrustTrusted: 0, TrustRevoked: 1, TrustRemoved: 2}
)

// sortKeys give an entry's keys for each sort.
var sortKeys = map[string]func(d *device, presence string) (int64, string){
	"name":        func(d *device, _ string) (int64, string) { return 0, d.lowerName },
	"last_seen":   func(d *device, _ string) (int64, string) { return d.lastSeen.Load(), "" },
	"presence":    func(_ *device, p string) (int64, string) { return presenceRank[p], "" },
	"trust":       func(d *device, _ string) (int64, string) { return trustRank[d.rec.Trust], "" },
	"platform":    func(d *device, _ string) (int64, string) { return 0, d.lowerPlat },
	"cert_expiry": func(d *device, _ string) (int64, string) { return unixMs(d.rec.CertExpiresAt), "" },
}

// ListDevices returns one page of the devices that match req, sorted, with the number that
// matched and the summary.
func (r *Runtime) ListDevices(req *palyrav1.ListDevicesRequest) (*palyrav1.ListDevicesReply, error) {
	keys, ok := sortKeys[cmp.Or(req.GetSort(), "name")]
	_, knownTrust := trustRank[req.GetTrust()]
	_, knownPresence := presenceRank[req.GetPresence()]
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: sort %q: want name, last_seen, presence, trust, platform or cert_expiry", ErrInvalid, req.GetSort())
	case req.GetTrust() != "" && !knownTrust:
		return nil, fmt.Errorf("%w: trust %q: want trusted, revoked or removed", ErrInvalid, req.GetTrust())
	case req.GetPresence() != "" && !knownPresence:
		return nil, fmt.Errorf("%w: presence %q: want online, degraded, stale or offline", ErrInvalid, req.GetPresence())
	}
	offset, err := parsePageToken(req.GetPageToken())
	if err != nil {
		return nil, err
	}
	size := int(req.GetPageSize())
	if size == 0 {
		size = DefaultPageSize
	}
	size = min(size, MaxPageSize)
	filter := strings.ToLower(req.GetFilter())
	withRemoved := req.GetIncludeRemoved() || req.GetTrust() == TrustRemoved
	compare := compareEntries
	if req.GetDescending() {
		compare = func(a, b listEntry) int { return compareEntries(b, a) }
	}

	r.mu.RLock()
	defer r.mu.RUnlock()
	// One pass both counts the summary and picks the matches.
	summary := &palyrav1.InventorySummary{PendingPairings: uint32(len(r.pending))}
	buf := entryPool.Get().(*[]listEntry)
	defer func() {
		clear(*buf) // holds no device alive from the pool
		entryPool.Put(buf)
	}()
	matched := (*buf)[:0]
	for _, d := range r.devices {
		presence := d.presence()
		if d.rec.Trust != TrustRemoved {
			countDevice(summary, d.rec.Trust, presence)
		}
		switch {
		case d.rec.Trust == TrustRemoved && !withRemoved,
			req.GetTrust() != "" && d.rec.Trust != req.GetTrust(),
			req.GetPresence() != "" && presence != req.GetPresence(),
			filter != "" && !strings.Contains(d.id, filter) && !strings.Contains(d.lowerName, filter) && !strings.Contains(d.lowerPlat, filter):
			continue
		}
		num, str := keys(d, presence)
		matched = append(matched, listEntry{d: d, num: num, str: str})
	}
	*buf = matched

	reply := &palyrav1.ListDevicesReply{Total: uint32(len(matched)), Summary: summary}
	if offset >= len(matched) {
		return reply, nil
	}
	end := min(offset+size, len(matched))
	for _, e := range sortedWindow(matched, offset, end, compare) {
		reply.Devices = append(reply.Devices, e.d.proto())
	}
	if end < len(matched) {
		reply.NextPageToken = pageToken(end)
	}
	return reply, nil
}

// entryPool keeps the lists ListDevices sorts: at 10,000 devices each is 400 KB, and
// making one per call left the garbage collector a tail of pauses.
var entryPool = sync.Pool{New: func() any { return new([]listEntry) }}

// sortedWindow returns s[from:to] as it would be were all of s sorted, sorting only that
// window: selecting its bounds costs linear time, so a page of 10,000 devices does not pay
// for sorting them all.
func sortedWindow(s []listEntry, from, to int, compare func(a, b listEntry) int) []listEntry {
	if to < len(s) {
		selectNth(s, to, compare)
	}
	if from > 0 {
		selectNth(s[:to], from, compare)
	}
	window := s[from:to]
	slices.SortFunc(window, compare)
	return window
}

// selectNth reorders s so that s[n] is the element a sort would put there, with none greater
// before it and none smaller after (quickselect, random pivots).
func selectNth(s []listEntry, n int, compare func(a, b listEntry) int) {
	lo, hi := 0, len(s)-1
	for lo < hi {
		p := lo + rand.IntN(hi-lo+1)
		s[p], s[hi] = s[hi], s[p]
		store := lo
		for i := lo; i < hi; i++ {
			if compare(s[i], s[hi]) < 0 {
				s[i], s[store] = s[store], s[i]
				store++
			}
		}
		s[store], s[hi] = s[hi], s[store]
		switch {
		case n < store:
			hi = store - 1
		case n > store:
			lo = store + 1
		default:
			return
		}
	}
}

// A page token is the offset of the page, opaque to clients.
func pageToken(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o" + strconv.Itoa(offset)))
}

func parsePageToken(tok string) (int, error) {
	if tok == "" {
		return 0, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err == nil && len(raw) > 1 && raw[0] == 'o' {
		if n, err := strconv.Atoi(string(raw[1:])); err == nil && n >= 0 {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%w: page_token %q is not one this server gave out; list from the start", ErrInvalid, tok)
}

// GetDevice returns device id (removed ones too) with its recent calls and its pairing
// requests, newest first.
func (r *Runtime) GetDevice(id string) (*palyrav1.DeviceDetail, error) {
	r.mu.RLock()
	d := r.devices[id]
	var dev *palyrav1.Device
	if d != nil {
		dev = d.proto()
	}
	r.mu.RUnlock()
	if d == nil {
		return nil, fmt.Errorf("%w: no device %q", ErrNotFound, id)
	}
	detail := &palyrav1.DeviceDetail{Device: dev}

	stored, err := r.st.RecentCalls(id, recentCalls)
	if err != nil {
		return nil, fmt.Errorf("read calls of %s: %w", id, err)
	}
	calls := map[string]store.CapabilityCall{}
	for _, c := range stored {
		calls[c.ID] = c
	}
	// Newer versions waiting for the background writer win.
	for _, c := range r.callLog.unwritten(id) {
		calls[c.ID] = c
	}
	recent := make([]store.CapabilityCall, 0, len(calls))
	for _, c := range calls {
		recent = append(recent, c)
	}
	slices.SortFunc(recent, func(a, b store.CapabilityCall) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), strings.Compare(b.ID, a.ID))
	})
	for _, c := range recent[:min(len(recent), recentCalls)] {
		detail.RecentCalls = append(detail.RecentCalls, callProto(c, nil))
	}

	requests, err := r.st.PairingRequests()
	if err != nil {
		return nil, fmt.Errorf("read pairing requests: %w", err)
	}
	for _, req := range newestFirst(requests) {
		if req.DeviceID == id {
			detail.Pairings = append(detail.Pairings, pairingRequestProto(req))
		}
	}
	return detail, nil
}

// PairingRequests returns the pairing requests in state ("" for all), newest first.
func (r *Runtime) PairingRequests(state string) ([]*palyrav1.PairingRequest, error) {
	switch state {
	case "", store.PairingPending, store.PairingApproved, store.PairingDenied, store.PairingExpired:
	default:
		return nil, fmt.Errorf("%w: state %q: want pending, approved, denied or expired", ErrInvalid, state)
	}
	requests, err := r.st.PairingRequests()
	if err != nil {
		return nil, fmt.Errorf("read pairing requests: %w", err)
	}
	var out []*palyrav1.PairingRequest
	for _, req := range newestFirst(requests) {
		if state == "" || req.State == state {
			out = append(out, pairingRequestProto(req))
		}
	}
	return out, nil
}

func newestFirst(requests []store.PairingRequest) []store.PairingRequest {
	slices.SortFunc(requests, func(a, b store.PairingRequest) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), strings.Compare(b.ID, a.ID))
	})
	return requests
}

func pairingRequestProto(req store.PairingRequest) *palyrav1.PairingRequest {
	return &palyrav1.PairingRequest{
		Id: req.ID, DeviceId: req.DeviceID, Name: req.Name, Platform: req.Platform, KeyFingerprint: req.KeyFingerprint,
		Peer: req.Peer, Method: req.Method, State: req.State, ApprovalId: req.ApprovalID,
		CreatedUnixMs: unixMs(req.CreatedAt), ExpiresUnixMs: unixMs(req.ExpiresAt), Reason: req.Reason,
	}
}

// WatchInventory returns a channel whose first event is a "snapshot" of every device
// (removed ones aside) with the summary, followed by a "changed" or "removed" event on every
// change of trust, presence, capabilities or certificate, and a func to stop. A watcher
// that falls more than buffer events behind has its channel closed, and should watch anew.
func (r *Runtime) WatchInventory(buffer int) (<-chan *palyrav1.InventoryEvent, func()) {
	ch := make(chan *palyrav1.InventoryEvent, max(buffer, 1))
	r.mu.Lock()
	snap := &palyrav1.InventoryEvent{Kind: "snapshot", Summary: r.summaryLocked()}
	for _, d := range r.devices {
		if d.rec.Trust != TrustRemoved {
			snap.Devices = append(snap.Devices, d.proto())
		}
	}
	slices.SortFunc(snap.Devices, func(a, b *palyrav1.Device) int { return strings.Compare(a.GetId(), b.GetId()) })
	ch <- snap
	r.watchers[ch] = struct{}{}
	r.mu.Unlock()
	return ch, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if _, ok := r.watchers[ch]; ok {
			delete(r.watchers, ch)
			close(ch)
		}
	}
}

// publishLocked tells the watchers that d changed (or was removed); with no device, that
// only the summary did. The caller holds r.mu for writing, so events follow the order of
// the changes and none slips between a snapshot and the first event after it.
func (r *Runtime) publishLocked(kind string, d *device) {
	if len(r.watchers) == 0 {
		return
	}
	ev := &palyrav1.InventoryEvent{Kind: kind, Summary: r.summaryLocked()}
	if d != nil {
		ev.Devices = []*palyrav1.Device{d.proto()}
	}
	for ch := range r.watchers {
		select {
		case ch <- ev:
		default:
			delete(r.watchers, ch)
			close(ch)
		}
	}
}
