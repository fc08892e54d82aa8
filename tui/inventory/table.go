package inventory

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/palyra/palyra/internal/textsafe"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
	"github.com/palyra/palyra/tui/clock"
	"github.com/palyra/palyra/tui/termtext"
)

// The trust and presence values palyrad sends (daemon/nodes).
const (
	trustTrusted     = "trusted"
	trustRevoked     = "revoked"
	trustRemoved     = "removed"
	presenceOnline   = "online"
	presenceDegraded = "degraded"
	presenceStale    = "stale"
	presenceOffline  = "offline"
)

// Widest a name, platform or id column grows; longer values are cut with an ellipsis.
const (
	maxNameWidth     = 24
	maxPlatformWidth = 16
	maxIDWidth       = 26
)

type sortKey int

const (
	sortName sortKey = iota
	sortPresence
	sortLastSeen
	sortTrust
	sortPlatform
	sortCapabilities
	sortCertExpiry
)

// sortNames are the sort keys in the order `s` cycles through them.
var sortNames = []string{"name", "presence", "last seen", "trust", "platform", "capabilities", "certificate expiry"}

// entry is one device with its display cells, built once when the device arrives. Entries
// are never changed: a device's update replaces its entry, so the table's order, which
// depends only on an entry's fields, stays valid for binary search.
type entry struct {
	dev                                       *palyrav1.Device
	name, id, trust, presence, platform, caps string // sanitized cells
	nameKey, platformKey                      string // lower-case, for sorting
	search                                    string // lower-case id, name and platform
	available                                 int
	lastSeen, certExpiry                      time.Time
}

func newEntry(d *palyrav1.Device) *entry {
	e := &entry{
		dev: d, id: textsafe.Clean(d.GetId()), name: textsafe.Clean(d.GetName()),
		trust: dash(textsafe.Clean(d.GetTrust())), presence: dash(textsafe.Clean(d.GetPresence())),
		platform: dash(textsafe.Clean(d.GetPlatform())),
		lastSeen: unixMs(d.GetLastSeenUnixMs()), certExpiry: unixMs(d.GetCertExpiresUnixMs()),
	}
	if e.name == "" {
		e.name = e.id
	}
	for _, c := range d.GetCapabilities() {
		if c.GetAvailable() {
			e.available++
		}
	}
	e.caps = fmt.Sprintf("%d/%d", e.available, len(d.GetCapabilities()))
	e.nameKey, e.platformKey = strings.ToLower(e.name), strings.ToLower(e.platform)
	// NUL cannot be typed into the filter, so a match never spans two fields.
	e.search = strings.ToLower(e.id + "\x00" + e.name + "\x00" + e.platform)
	return e
}

// table holds the devices in sort order and the window of them that matches the filter.
type table struct {
	byID    map[string]*entry
	all     []*entry // every device, sorted
	rows    []*entry // the devices matching the filter, sorted; all itself when no filter
	summary *palyrav1.InventorySummary
	loaded  bool // the first snapshot arrived

	sortBy sortKey
	desc   bool
	filter string

	cursor   int    // index of the selected row
	selected string // the selected device's id

	nameWidth, platformWidth, idWidth int
}

func newTable() table {
	return table{byID: map[string]*entry{}}
}

// apply takes one watch event: a snapshot replaces everything; a change replaces one
// device's entry in O(n) moves and O(log n) comparisons, with no re-sort.
func (t *table) apply(ev *palyrav1.InventoryEvent) {
	if ev.GetSummary() != nil {
		t.summary = ev.GetSummary()
	}
	switch ev.GetKind() {
	case "snapshot":
		clear(t.byID)
		for _, d := range ev.GetDevices() {
			if d.GetTrust() != trustRemoved {
				t.byID[d.GetId()] = newEntry(d)
			}
		}
		t.all = slices.SortedFunc(maps.Values(t.byID), t.compare)
		t.loaded = true
		t.nameWidth, t.platformWidth, t.idWidth = 0, 0, 0
		for _, e := range t.all {
			t.grow(e)
		}
		t.refilter()
	case "changed", "removed":
		for _, d := range ev.GetDevices() {
			if old := t.byID[d.GetId()]; old != nil {
				t.all = t.without(t.all, old)
				if t.filter != "" {
					t.rows = t.without(t.rows, old)
				}
				delete(t.byID, d.GetId())
			}
			if ev.GetKind() == "removed" || d.GetTrust() == trustRemoved {
				continue
			}
			e := newEntry(d)
			t.all = t.with(t.all, e)
			if t.filter != "" && t.matches(e) {
				t.rows = t.with(t.rows, e)
			}
			t.byID[d.GetId()] = e
			t.grow(e)
		}
		if t.filter == "" {
			t.rows = t.all
		}
		t.reselect()
	}
}

// without removes e from the sorted list.
func (t *table) without(list []*entry, e *entry) []*entry {
	if i, found := slices.BinarySearchFunc(list, e, t.compare); found {
		return slices.Delete(list, i, i+1)
	}
	return list
}

// with inserts e into the sorted list.
func (t *table) with(list []*entry, e *entry) []*entry {
	i, _ := slices.BinarySearchFunc(list, e, t.compare)
	return slices.Insert(list, i, e)
}

func (t *table) matches(e *entry) bool {
	return strings.Contains(e.search, strings.ToLower(t.filter))
}

func (t *table) grow(e *entry) {
	t.nameWidth = min(max(t.nameWidth, termtext.Width(e.name)), maxNameWidth)
	t.platformWidth = min(max(t.platformWidth, termtext.Width(e.platform)), maxPlatformWidth)
	t.idWidth = min(max(t.idWidth, termtext.Width(e.id)), maxIDWidth)
}

func (t *table) setSort(by sortKey, desc bool) {
	t.sortBy, t.desc = by, desc
	slices.SortFunc(t.all, t.compare)
	t.refilter()
}

func (t *table) setFilter(f string) {
	if f == t.filter {
		return
	}
	t.filter = f
	t.refilter()
}

// refilter rebuilds the rows from all.
func (t *table) refilter() {
	if t.filter == "" {
		t.rows = t.all
	} else {
		t.rows = make([]*entry, 0, len(t.rows))
		for _, e := range t.all {
			if t.matches(e) {
				t.rows = append(t.rows, e)
			}
		}
	}
	t.reselect()
}

// reselect keeps the selection on the same device while it is shown, else on the same row.
func (t *table) reselect() {
	if e := t.byID[t.selected]; e != nil {
		if i, found := slices.BinarySearchFunc(t.rows, e, t.compare); found {
			t.cursor = i
			return
		}
	}
	if len(t.rows) == 0 {
		t.cursor, t.selected = 0, ""
		return
	}
	t.cursor = min(t.cursor, len(t.rows)-1)
	t.selected = t.rows[t.cursor].dev.GetId()
}

func (t *table) move(delta int) {
	if len(t.rows) == 0 {
		return
	}
	t.cursor = min(max(t.cursor+delta, 0), len(t.rows)-1)
	t.selected = t.rows[t.cursor].dev.GetId()
}

// compare orders entries by the sort key, then by name and id, so the order is total.
func (t *table) compare(a, b *entry) int {
	var c int
	switch t.sortBy {
	case sortName:
		c = strings.Compare(a.nameKey, b.nameKey)
	case sortPresence:
		c = cmp.Compare(presenceRank(a.dev.GetPresence()), presenceRank(b.dev.GetPresence()))
	case sortLastSeen: // connected first, then the most recently seen
		c = cmp.Or(cmp.Compare(b.connected(), a.connected()), b.lastSeen.Compare(a.lastSeen))
	case sortTrust:
		c = cmp.Compare(trustRank(a.dev.GetTrust()), trustRank(b.dev.GetTrust()))
	case sortPlatform:
		c = strings.Compare(a.platformKey, b.platformKey)
	case sortCapabilities: // most available first
		c = cmp.Compare(b.available, a.available)
	case sortCertExpiry: // soonest first; no certificate last
		c = compareExpiry(a.certExpiry, b.certExpiry)
	}
	if t.desc {
		c = -c
	}
	if c == 0 {
		c = strings.Compare(a.nameKey, b.nameKey)
	}
	if c == 0 {
		c = strings.Compare(a.dev.GetId(), b.dev.GetId())
	}
	return c
}

// connected reports whether the node holds a live session: palyrad pushes no event per
// heartbeat, so for a connected node the last seen time is "now", not the one last sent.
func (e *entry) connected() int {
	if p := e.dev.GetPresence(); p == presenceOnline || p == presenceDegraded {
		return 1
	}
	return 0
}

func compareExpiry(a, b time.Time) int {
	switch {
	case a.IsZero() && b.IsZero():
		return 0
	case a.IsZero():
		return 1
	case b.IsZero():
		return -1
	}
	return a.Compare(b)
}

func presenceRank(p string) int {
	switch p {
	case presenceOnline:
		return 0
	case presenceDegraded:
		return 1
	case presenceStale:
		return 2
	case presenceOffline:
		return 3
	}
	return 4
}

func trustRank(t string) int {
	switch t {
	case trustTrusted:
		return 0
	case trustRevoked:
		return 1
	}
	return 2
}

func unixMs(ms int64) time.Time { return clock.FromUnixMs(ms) }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// displayName is how verbs and notices name a device.
func displayName(d *palyrav1.Device) string {
	if name := textsafe.Clean(d.GetName()); name != "" {
		return name
	}
	return textsafe.Clean(d.GetId())
}
