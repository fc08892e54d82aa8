package nodes

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/palyra/palyra/daemon/store"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// An admin token and a scoped token's secret, shaped as daemon/access makes them.
const (
	pastedAdminToken = "pa_Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGw"
	pastedScopedKey  = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I"
)

// A token pasted into a call's input, echoed in the node's error, or given as a revocation
// reason stays out of what is kept: the records an observability.read token can read, and
// daemon.db itself.
func TestCallRecordsAndRevocationsHideTokens(t *testing.T) {
	g, n, s := paired(t, options{})
	input := `{"note":"` + pastedAdminToken + `","auth":"Bearer\tabc123","other":"pt_0a1b2c3d4e5f_` + pastedScopedKey + `"}`
	answer := invokeAsync(g.rt, &palyrav1.InvokeRequest{DeviceId: n.deviceID, Capability: "echo", Input: []byte(input)})
	call := s.nextCall(t)
	if string(call.GetInput()) != input {
		t.Fatalf("the node got %q, want the input unchanged", call.GetInput())
	}
	s.result(t, call.GetCallId(), false, nil, "refused input "+input)
	got := <-answer
	if got.err != nil || got.call.GetState() != store.CallFailed {
		t.Fatalf("invoke: %v %v", got.call, got.err)
	}
	if _, err := g.rt.Revoke(n.deviceID, "its token pa_"+pastedAdminToken[3:]+" leaked", "admin"); err != nil {
		t.Fatal(err)
	}

	secrets := []string{pastedAdminToken, pastedScopedKey, "abc123"}
	check := func(where, text string) {
		t.Helper()
		for _, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("%s %q holds %q", where, text, secret)
			}
		}
	}
	check("the reply's input summary", got.call.GetInputSummary())
	check("the reply's error", got.call.GetError())
	if !strings.Contains(got.call.GetInputSummary(), `"note":"pa_<redacted>"`) {
		t.Errorf("input summary %q, want the token's place marked", got.call.GetInputSummary())
	}
	detail, err := g.rt.GetDevice(n.deviceID)
	if err != nil {
		t.Fatal(err)
	}
	check("the revocation reason", detail.GetDevice().GetRevokedReason())
	for _, c := range detail.GetRecentCalls() {
		check("a recent call's input summary", c.GetInputSummary())
		check("a recent call's error", c.GetError())
	}

	g.stop() // writes what is left and closes daemon.db
	raw, err := os.ReadFile(filepath.Join(g.dir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range secrets {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("%s holds %q", store.FileName, secret)
		}
	}
}
