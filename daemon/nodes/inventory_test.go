package nodes

import (
	"errors"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/palyra/palyra/daemon/store"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// inventory starts a gateway with four stored devices (one removed) and one node paired and
// connected, named "laptop".
func inventory(t *testing.T) (*gateway, *node) {
	t.Helper()
	now := time.Now()
	g := startGateway(t, options{seed: []store.Device{
		{ID: "dev-seed-alpha", Name: "Alpha", Platform: "linux/amd64", Trust: TrustTrusted,
			CertExpiresAt: now.Add(10 * time.Hour), LastSeen: now.Add(-3 * time.Hour)},
		{ID: "dev-seed-bravo", Name: "bravo", Platform: "darwin/arm64", Trust: TrustTrusted,
			CertExpiresAt: now.Add(5 * time.Hour), LastSeen: now.Add(-time.Hour)},
		{ID: "dev-seed-charlie", Name: "Charlie", Platform: "linux/arm64", Trust: TrustRevoked, RevokedReason: "lost"},
		{ID: "dev-seed-delta", Name: "delta", Platform: "windows", Trust: TrustRemoved},
	}})
	n := newNode(t, "laptop")
	g.pair(g.client(nil), n)
	connect(t, g.client(n.tlsCert()), n.deviceID)
	return g, n
}

func names(reply *palyrav1.ListDevicesReply) []string {
	var out []string
	for _, d := range reply.GetDevices() {
		out = append(out, d.GetName())
	}
	return out
}

func TestListDevicesFiltersAndSorts(t *testing.T) {
	g, _ := inventory(t)
	cases := []struct {
		name string
		req  *palyrav1.ListDevicesRequest
		want []string
	}{
		{"all by name", &palyrav1.ListDevicesRequest{}, []string{"Alpha", "bravo", "Charlie", "laptop"}},
		{"descending", &palyrav1.ListDevicesRequest{Descending: true}, []string{"laptop", "Charlie", "bravo", "Alpha"}},
		{"filter platform", &palyrav1.ListDevicesRequest{Filter: "ARM64"}, []string{"bravo", "Charlie"}},
		{"filter id", &palyrav1.ListDevicesRequest{Filter: "seed-al"}, []string{"Alpha"}},
		{"filter name", &palyrav1.ListDevicesRequest{Filter: "lapt"}, []string{"laptop"}},
		{"revoked", &palyrav1.ListDevicesRequest{Trust: TrustRevoked}, []string{"Charlie"}},
		{"removed", &palyrav1.ListDevicesRequest{Trust: TrustRemoved}, []string{"delta"}},
		{"with removed", &palyrav1.ListDevicesRequest{IncludeRemoved: true}, []string{"Alpha", "bravo", "Charlie", "delta", "laptop"}},
		{"online", &palyrav1.ListDevicesRequest{Presence: PresenceOnline}, []string{"laptop"}},
		{"by last seen", &palyrav1.ListDevicesRequest{Sort: "last_seen"}, []string{"Charlie", "Alpha", "bravo", "laptop"}},
		{"by presence", &palyrav1.ListDevicesRequest{Sort: "presence"}, []string{"laptop", "Alpha", "bravo", "Charlie"}},
		// Ties fall to the id, which is random for the paired node: these keep to the seeded.
		{"by trust", &palyrav1.ListDevicesRequest{Filter: "seed", Sort: "trust", Descending: true}, []string{"Charlie", "bravo", "Alpha"}},
		{"by platform", &palyrav1.ListDevicesRequest{Filter: "seed", Sort: "platform"}, []string{"bravo", "Alpha", "Charlie"}},
		{"by cert expiry", &palyrav1.ListDevicesRequest{Sort: "cert_expiry"}, []string{"Charlie", "bravo", "Alpha", "laptop"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reply, err := g.rt.ListDevices(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(reply); !slices.Equal(got, tc.want) || reply.GetTotal() != uint32(len(tc.want)) {
				t.Errorf("got %v (total %d), want %v", got, reply.GetTotal(), tc.want)
			}
		})
	}
}

func TestListDevicesPagesAndCounts(t *testing.T) {
	g, _ := inventory(t)
	var all []string
	req := &palyrav1.ListDevicesRequest{PageSize: 3}
	for pages := 0; ; pages++ {
		reply, err := g.rt.ListDevices(req)
		if err != nil {
			t.Fatal(err)
		}
		if reply.GetTotal() != 4 {
			t.Fatalf("total %d, want 4", reply.GetTotal())
		}
		all = append(all, names(reply)...)
		if reply.GetNextPageToken() == "" {
			if pages != 1 {
				t.Errorf("%d pages, want 2", pages+1)
			}
			break
		}
		req.PageToken = reply.GetNextPageToken()
	}
	if want := []string{"Alpha", "bravo", "Charlie", "laptop"}; !slices.Equal(all, want) {
		t.Errorf("pages hold %v, want %v", all, want)
	}

	want := &palyrav1.InventorySummary{Devices: 4, Trusted: 3, Revoked: 1, Online: 1, Offline: 3}
	if got := g.rt.Summary(); !proto.Equal(got, want) {
		t.Errorf("summary %v, want %v", got, want)
	}
	for name, req := range map[string]*palyrav1.ListDevicesRequest{
		"bad token":    {PageToken: "nonsense"},
		"bad sort":     {Sort: "shoe_size"},
		"bad trust":    {Trust: "maybe"},
		"bad presence": {Presence: "asleep"},
	} {
		if _, err := g.rt.ListDevices(req); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := g.rt.GetDevice("dev-nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown device: %v, want ErrNotFound", err)
	}
}

func TestWatchInventorySendsSnapshotThenChanges(t *testing.T) {
	g := startGateway(t, options{seed: []store.Device{
		{ID: "dev-seed-alpha", Name: "Alpha", Trust: TrustTrusted},
		{ID: "dev-seed-gone", Name: "gone", Trust: TrustRemoved},
	}})
	events, stop := g.rt.WatchInventory(64)
	defer stop()
	snap := <-events
	if snap.GetKind() != "snapshot" || len(snap.GetDevices()) != 1 || snap.GetDevices()[0].GetId() != "dev-seed-alpha" ||
		snap.GetSummary().GetDevices() != 1 {
		t.Fatalf("first event %v, want a snapshot of Alpha", snap)
	}

	n := newNode(t, "laptop")
	c := g.client(nil)
	if _, err := g.request(c, n, g.mint()); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, func(ev *palyrav1.InventoryEvent) bool { return ev.GetSummary().GetPendingPairings() == 1 })
	g.decide(n, true)
	n.cert = g.await(c, n).GetClientCert()
	paired := waitEvent(t, events, func(ev *palyrav1.InventoryEvent) bool { return deviceIn(ev, n.deviceID, PresenceOffline) })
	if paired.GetSummary().GetPendingPairings() != 0 || paired.GetSummary().GetTrusted() != 2 {
		t.Errorf("summary on pairing %v", paired.GetSummary())
	}
	s := connect(t, g.client(n.tlsCert()), n.deviceID)
	if ev := <-events; ev.GetKind() != "changed" || !deviceIn(ev, n.deviceID, PresenceOnline) {
		t.Fatalf("on connect: %v", ev)
	}
	// Heartbeats change nothing the inventory shows, so they send no event: the next one is
	// the removal.
	for range 3 {
		if err := s.send(&palyrav1.NodeMessage{Msg: &palyrav1.NodeMessage_Heartbeat{Heartbeat: &palyrav1.NodeHeartbeat{}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := g.rt.Remove("dev-seed-alpha", "oncall"); err != nil {
		t.Fatal(err)
	}
	if ev := <-events; ev.GetKind() != "removed" || !deviceIn(ev, "dev-seed-alpha", "") || ev.GetSummary().GetDevices() != 1 {
		t.Fatalf("on remove: %v", ev)
	}
}

func TestSlowWatcherIsDropped(t *testing.T) {
	g := startGateway(t, options{seed: []store.Device{{ID: "dev-seed-alpha", Name: "Alpha", Trust: TrustTrusted}}})
	slow, stopSlow := g.rt.WatchInventory(1)
	defer stopSlow()
	fast, stopFast := g.rt.WatchInventory(16)
	defer stopFast()
	for _, reason := range []string{"one", "two"} {
		if _, err := g.rt.Revoke("dev-seed-alpha", reason, "oncall"); err != nil {
			t.Fatal(err)
		}
		if _, err := g.rt.Remove("dev-seed-alpha", "oncall"); err != nil {
			t.Fatal(err)
		}
	}
	if ev := <-slow; ev.GetKind() != "snapshot" {
		t.Fatalf("slow watcher's first event %v", ev)
	}
	if ev, ok := <-slow; ok {
		t.Fatalf("slow watcher got %v, want its channel closed", ev)
	}
	for _, want := range []string{"snapshot", "changed", "removed"} {
		if ev := <-fast; ev.GetKind() != want {
			t.Fatalf("fast watcher got %v, want %s", ev, want)
		}
	}
}
