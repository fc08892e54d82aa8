package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

func testDevice(id, name string) *palyrav1.Device {
	now := time.Now()
	return &palyrav1.Device{
		Id: id, Name: name, Platform: "linux/arm64", Trust: "trusted", Presence: "online",
		LastSeenUnixMs: now.Add(-3 * time.Second).UnixMilli(), PairedUnixMs: 1790000000000,
		Capabilities: []*palyrav1.Capability{
			{Name: "system.info", Available: true},
			{Name: "camera.snap", Available: false, Mediated: true},
		},
		CertFingerprint: "c0ffee", CertExpiresUnixMs: now.Add(23*time.Hour + 30*time.Minute).UnixMilli(),
		KeyFingerprint: "beef", ApprovalId: "ap-4", NodeVersion: "0.1.0", Peer: "192.0.2.4:51234",
	}
}

var testSummary = &palyrav1.InventorySummary{Devices: 3, Trusted: 2, Online: 2, Offline: 1, Revoked: 1, PendingPairings: 1}

// pagedDevices serves devices two per page, as palyrad's paging would.
func pagedDevices(f *fakeAdmin, devices []*palyrav1.Device) {
	on(f, palyrav1.InventoryService_ListDevices_FullMethodName, func(req *palyrav1.ListDevicesRequest) (*palyrav1.ListDevicesReply, error) {
		start := 0
		if req.PageToken != "" {
			fmt.Sscanf(req.PageToken, "p%d", &start)
		}
		end := min(start+2, len(devices))
		reply := &palyrav1.ListDevicesReply{Devices: devices[start:end], Total: uint32(len(devices)), Summary: testSummary}
		if end < len(devices) {
			reply.NextPageToken = fmt.Sprintf("p%d", end)
		}
		return reply, nil
	})
}

func TestInventoryListPages(t *testing.T) {
	f := newFakeAdmin(t)
	pagedDevices(f, []*palyrav1.Device{testDevice("d1", "one"), testDevice("d2", "two"), testDevice("d3", "three")})
	o := f.run(t, "inventory", "--json", "--filter", "pi", "--trust", "trusted", "--presence", "online",
		"--sort", "last_seen", "--desc", "--all")
	o.expect(t, exitOK)
	reqs := f.got(palyrav1.InventoryService_ListDevices_FullMethodName)
	if len(reqs) != 2 {
		t.Fatalf("%d ListDevices calls, want 2 pages", len(reqs))
	}
	want := &palyrav1.ListDevicesRequest{Filter: "pi", Trust: "trusted", Presence: "online", Sort: "last_seen",
		Descending: true, IncludeRemoved: true, PageSize: 1000}
	checkRequest(t, reqs[0], want)
	want.PageToken = "p2"
	checkRequest(t, reqs[1], want)
	for _, id := range []string{`"id": "d1"`, `"id": "d2"`, `"id": "d3"`} {
		if !strings.Contains(o.stdout, id) {
			t.Errorf("output lacks %s", id)
		}
	}
}

func TestInventoryJSON(t *testing.T) {
	f := newFakeAdmin(t)
	d := &palyrav1.Device{
		Id: "d1", Name: "kitchen-pi", Platform: "linux/arm64", Trust: "revoked", Presence: "offline",
		LastSeenUnixMs: 1790000001000, PairedUnixMs: 1790000000000,
		Capabilities:    []*palyrav1.Capability{{Name: "camera.snap", Available: true, Mediated: true}},
		CertFingerprint: "c0ffee", CertExpiresUnixMs: 1790086400000, KeyFingerprint: "beef", ApprovalId: "ap-4",
		RevokedReason: "lost", RevokedUnixMs: 1790000002000, NodeVersion: "0.1.0", Peer: "192.0.2.4:51234",
	}
	f.reply(palyrav1.InventoryService_ListDevices_FullMethodName, &palyrav1.ListDevicesReply{
		Devices: []*palyrav1.Device{d, {Id: "d2"}}, Total: 2, Summary: testSummary})
	o := f.run(t, "inventory", "--json")
	o.expect(t, exitOK)
	sameJSON(t, o.stdout, `{"devices":[
		{"id":"d1","name":"kitchen-pi","platform":"linux/arm64","trust":"revoked","presence":"offline",
		 "last_seen_unix_ms":1790000001000,"paired_unix_ms":1790000000000,
		 "capabilities":[{"name":"camera.snap","available":true,"mediated":true}],
		 "cert_fingerprint":"c0ffee","cert_expires_unix_ms":1790086400000,"key_fingerprint":"beef",
		 "approval_id":"ap-4","revoked_reason":"lost","revoked_unix_ms":1790000002000,"node_version":"0.1.0",
		 "peer":"192.0.2.4:51234"},
		{"id":"d2","name":"","platform":"","trust":"","presence":"","last_seen_unix_ms":0,"paired_unix_ms":0,
		 "capabilities":[],"cert_fingerprint":"","cert_expires_unix_ms":0,"key_fingerprint":"","approval_id":"",
		 "revoked_reason":"","revoked_unix_ms":0,"node_version":"","peer":""}],
		"total":2,
		"summary":{"devices":3,"trusted":2,"online":2,"degraded":0,"stale":0,"offline":1,"revoked":1,"pending_pairings":1}}`)
}

func TestInventoryTable(t *testing.T) {
	f := newFakeAdmin(t)
	long := testDevice("01JD4W6ZB3K9V8X2M5N7P0Q1RS", "the-very-long-name-of-a-raspberry-pi-in-the-kitchen\x1b[2J")
	long.Platform = "linux/arm64 (Debian GNU/Linux 13 trixie)"
	pagedDevices(f, []*palyrav1.Device{testDevice("d1", "one"), long})
	// Piped, nothing is cut and the summary stays on one line.
	o := f.run(t, "inventory")
	o.expect(t, exitOK)
	if !strings.Contains(o.stdout, "01JD4W6ZB3K9V8X2M5N7P0Q1RS  the-very-long-name-of-a-raspberry-pi-in-the-kitchen") ||
		!strings.Contains(o.stdout, "linux/arm64 (Debian GNU/Linux 13 trixie)") || strings.Contains(o.stdout, "…") ||
		!strings.Contains(o.stdout, "1 offline · 1 pairing pending") {
		t.Errorf("piped inventory:\n%s", o.stdout)
	}

	o = f.runOn(t, newTerminal(t, narrowest), "inventory")
	o.expect(t, exitOK)
	checkWidth(t, o.stdout)
	if strings.ContainsRune(o.stdout, 0x1b) {
		t.Errorf("device name not sanitized:\n%q", o.stdout)
	}
	lines := strings.Split(strings.TrimSuffix(o.stdout, "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("want a header, 2 rows and a summary on two lines:\n%s", o.stdout)
	}
	for _, h := range []string{"ID", "NAME", "TRUST", "PRESENCE", "LAST SEEN", "PLATFORM", "CAPS", "CERT"} {
		if !strings.Contains(lines[0], h) {
			t.Errorf("header %q lacks %s", lines[0], h)
		}
	}
	for _, cell := range []string{"d1", "one", "trusted", "online", "3s ago", "1/2", "23h"} {
		if !strings.Contains(lines[1], cell) {
			t.Errorf("row %q lacks %q", lines[1], cell)
		}
	}
	wantSummary := "2 of 3 devices · 2 trusted · 1 revoked · 2 online · 1 offline\n" +
		"1 pairing pending (palyra-tui approvals list)"
	if got := lines[3] + "\n" + lines[4]; got != wantSummary {
		t.Errorf("summary\n got %q\nwant %q", got, wantSummary)
	}
}

func TestInventoryEmpty(t *testing.T) {
	f := newFakeAdmin(t)
	f.reply(palyrav1.InventoryService_ListDevices_FullMethodName, &palyrav1.ListDevicesReply{Summary: &palyrav1.InventorySummary{}})
	o := f.run(t, "inventory")
	o.expect(t, exitOK)
	if !strings.HasPrefix(o.stdout, "no devices yet: pair one with `palyra-tui pair`\n") {
		t.Errorf("output %q", o.stdout)
	}
}

func TestInventoryOneDevice(t *testing.T) {
	var b bytes.Buffer
	printInventory(&b, &palyrav1.ListDevicesReply{Devices: []*palyrav1.Device{testDevice("d1", "one")}, Total: 1,
		Summary: &palyrav1.InventorySummary{Devices: 1, Trusted: 1, Online: 1}}, time.Now())
	if !strings.HasSuffix(b.String(), "\n1 device · 1 trusted · 1 online\n") {
		t.Errorf("summary of one device:\n%s", b.String())
	}
}

func TestInventoryUnknownVerb(t *testing.T) {
	f := newFakeAdmin(t)
	f.run(t, "inventory", "shwo", "d1").expect(t, exitUsage, `unknown command "shwo"`)
}

func TestInventoryShow(t *testing.T) {
	f := newFakeAdmin(t)
	d := testDevice("d1", "kitchen-pi")
	d.Capabilities = nil
	f.reply(palyrav1.InventoryService_GetDevice_FullMethodName, &palyrav1.DeviceDetail{
		Device: d,
		RecentCalls: []*palyrav1.CapabilityCall{{
			Id: "c1", DeviceId: "d1", Capability: "system.info", State: "failed", Requester: "admin",
			CreatedUnixMs: 1790000000000, UpdatedUnixMs: 1790000000500, Error: "node went away", InputSummary: "{}",
		}},
		Pairings: []*palyrav1.PairingRequest{{
			Id: "pr1", DeviceId: "d1", Name: "kitchen-pi", Platform: "linux/arm64", KeyFingerprint: "beef",
			Peer: "192.0.2.4:51234", Method: "pin", State: "approved", ApprovalId: "ap-4",
			CreatedUnixMs: 1789999990000, ExpiresUnixMs: 1790000590000,
		}},
	})
	o := f.run(t, "inventory", "show", "d1", "--json")
	o.expect(t, exitOK)
	checkRequest(t, only[*palyrav1.GetDeviceRequest](t, f, palyrav1.InventoryService_GetDevice_FullMethodName),
		&palyrav1.GetDeviceRequest{Id: "d1"})
	sameJSON(t, o.stdout, fmt.Sprintf(`{"device":{"id":"d1","name":"kitchen-pi","platform":"linux/arm64","trust":"trusted",
		"presence":"online","last_seen_unix_ms":%d,"paired_unix_ms":1790000000000,"capabilities":[],
		"cert_fingerprint":"c0ffee","cert_expires_unix_ms":%d,"key_fingerprint":"beef","approval_id":"ap-4",
		"revoked_reason":"","revoked_unix_ms":0,"node_version":"0.1.0","peer":"192.0.2.4:51234"},
		"recent_calls":[{"id":"c1","device_id":"d1","capability":"system.info","state":"failed","requester":"admin",
		 "created_unix_ms":1790000000000,"updated_unix_ms":1790000000500,"error":"node went away","output":null,
		 "input_summary":"{}"}],
		"pairings":[{"id":"pr1","device_id":"d1","name":"kitchen-pi","platform":"linux/arm64","key_fingerprint":"beef",
		 "peer":"192.0.2.4:51234","method":"pin","state":"approved","approval_id":"ap-4",
		 "created_unix_ms":1789999990000,"expires_unix_ms":1790000590000,"reason":""}]}`,
		d.LastSeenUnixMs, d.CertExpiresUnixMs))

	o = f.runOn(t, newTerminal(t, narrowest), "inventory", "show", "d1")
	o.expect(t, exitOK)
	checkWidth(t, o.stdout)
	for _, want := range []string{"d1  kitchen-pi\n", "trust      trusted\n", "Recent calls", "node went away", "Pairing requests", "pr1"} {
		if !strings.Contains(o.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, o.stdout)
		}
	}
}

func TestInventoryShowNotFound(t *testing.T) {
	f := newFakeAdmin(t)
	f.fail(palyrav1.InventoryService_GetDevice_FullMethodName, codes.NotFound, "no device d9")
	f.run(t, "inventory", "show", "d9").expect(t, exitFailure, "palyra-tui: no device d9\n")
}

func TestInventoryInvoke(t *testing.T) {
	f := newFakeAdmin(t)
	f.reply(palyrav1.NodesService_Invoke_FullMethodName, &palyrav1.CapabilityCall{
		Id: "c7", DeviceId: "d1", Capability: "system.info", State: "succeeded", Requester: "admin",
		Output: []byte(`{"host":"kitchen","evil":"\u001b[2J` + "\u202e" + `"}`),
	})
	o := f.run(t, "inventory", "invoke", "d1", "system.info", `{"verbose":true}`, "--timeout", "45s", "--max-output", "4096")
	o.expect(t, exitOK)
	checkRequest(t, only[*palyrav1.InvokeRequest](t, f, palyrav1.NodesService_Invoke_FullMethodName), &palyrav1.InvokeRequest{
		DeviceId: "d1", Capability: "system.info", Input: []byte(`{"verbose":true}`), TimeoutMs: 45000, MaxOutputBytes: 4096})
	want := "{\n  \"host\": \"kitchen\",\n  \"evil\": \"\\u001b[2J\"\n}\n"
	if o.stdout != want {
		t.Errorf("output\n got %q\nwant %q", o.stdout, want)
	}
}

func TestInventoryInvokeJSON(t *testing.T) {
	f := newFakeAdmin(t)
	f.reply(palyrav1.NodesService_Invoke_FullMethodName, &palyrav1.CapabilityCall{
		Id: "c8", DeviceId: "d1", Capability: "camera.snap", State: "succeeded", Requester: "admin",
		CreatedUnixMs: 1790000000000, UpdatedUnixMs: 1790000000100, Output: []byte(`{"jpeg":"AAAA"}`), InputSummary: "{}",
	})
	o := f.run(t, "inventory", "invoke", "d1", "camera.snap", "--json")
	o.expect(t, exitOK)
	checkRequest(t, only[*palyrav1.InvokeRequest](t, f, palyrav1.NodesService_Invoke_FullMethodName),
		&palyrav1.InvokeRequest{DeviceId: "d1", Capability: "camera.snap"})
	sameJSON(t, o.stdout, `{"id":"c8","device_id":"d1","capability":"camera.snap","state":"succeeded","requester":"admin",
		"created_unix_ms":1790000000000,"updated_unix_ms":1790000000100,"error":"","output":{"jpeg":"AAAA"},"input_summary":"{}"}`)
}

func TestInventoryInvokeFailed(t *testing.T) {
	for _, state := range []string{"failed", "timed_out"} {
		t.Run(state, func(t *testing.T) {
			f := newFakeAdmin(t)
			f.reply(palyrav1.NodesService_Invoke_FullMethodName, &palyrav1.CapabilityCall{
				Id: "c9", DeviceId: "d1", Capability: "camera.snap", State: state, Error: "the node said no"})
			o := f.run(t, "inventory", "invoke", "d1", "camera.snap", "--json")
			o.expect(t, exitFailure, "call c9 "+state+": the node said no")
			if !strings.Contains(o.stdout, `"state": "`+state+`"`) {
				t.Errorf("the call was not printed: %q", o.stdout)
			}
		})
	}
}

func TestInventoryInvokeUsage(t *testing.T) {
	f := newFakeAdmin(t)
	f.run(t, "inventory", "invoke", "d1", "camera.snap", "{not json").expect(t, exitUsage, "is not JSON")
	f.run(t, "inventory", "invoke", "d1").expect(t, exitUsage, "accepts between 2 and 3 arg(s)")
	f.run(t, "inventory", "invoke", "d1", "x", "--timeout", "soon").expect(t, exitUsage, "--timeout")
	f.run(t, "inventory", "invoke", "d1", "x", "--timeout", "-1s").expect(t, exitUsage, "--timeout")
	if n := len(f.got(palyrav1.NodesService_Invoke_FullMethodName)); n != 0 {
		t.Errorf("%d calls sent despite usage errors", n)
	}
}

func TestInventoryActions(t *testing.T) {
	f := newFakeAdmin(t)
	revoked := &palyrav1.Device{Id: "d1", Name: "kitchen-pi", Trust: "revoked", RevokedReason: "lost it"}
	f.reply(palyrav1.NodesService_Revoke_FullMethodName, revoked)
	f.reply(palyrav1.NodesService_Remove_FullMethodName, &palyrav1.Device{Id: "d1", Name: "kitchen-pi", Trust: "removed"})
	f.reply(palyrav1.NodesService_SetCapabilityAvailability_FullMethodName, &palyrav1.Device{Id: "d1", Name: "kitchen-pi"})

	o := f.run(t, "inventory", "revoke", "d1", "--reason", "lost it")
	o.expect(t, exitOK)
	if o.stdout != "d1 (kitchen-pi): revoked: lost it\n" {
		t.Errorf("revoke printed %q", o.stdout)
	}
	checkRequest(t, only[*palyrav1.RevokeRequest](t, f, palyrav1.NodesService_Revoke_FullMethodName),
		&palyrav1.RevokeRequest{DeviceId: "d1", Reason: "lost it"})

	o = f.run(t, "inventory", "remove", "d1")
	o.expect(t, exitOK)
	if o.stdout != "d1 (kitchen-pi): removed\n" {
		t.Errorf("remove printed %q", o.stdout)
	}
	checkRequest(t, only[*palyrav1.RemoveRequest](t, f, palyrav1.NodesService_Remove_FullMethodName),
		&palyrav1.RemoveRequest{DeviceId: "d1"})

	f.run(t, "inventory", "capability", "d1", "camera.snap", "off").expect(t, exitOK)
	f.run(t, "inventory", "capability", "d1", "camera.snap", "on").expect(t, exitOK)
	f.run(t, "inventory", "capability", "d1", "camera.snap", "maybe").expect(t, exitUsage, "want on or off")
	reqs := f.got(palyrav1.NodesService_SetCapabilityAvailability_FullMethodName)
	if len(reqs) != 2 {
		t.Fatalf("%d capability calls, want 2", len(reqs))
	}
	checkRequest(t, reqs[0], &palyrav1.SetCapabilityAvailabilityRequest{DeviceId: "d1", Capability: "camera.snap", Available: false})
	checkRequest(t, reqs[1], &palyrav1.SetCapabilityAvailabilityRequest{DeviceId: "d1", Capability: "camera.snap", Available: true})
}
