package adminapi

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/palyra/palyra/daemon/access"
	"github.com/palyra/palyra/internal/adminclient"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// Anyone who may read sees the plugins; only the admin trusts or forgets one, and each
// change is audited with the file's hash.
func TestPluginsTrustIsTheAdminsAndAudited(t *testing.T) {
	dir := t.TempDir()
	script := []byte("#!/bin/sh\nexit 1\n")
	if err := os.WriteFile(filepath.Join(dir, "palyra-connector-ext"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	raw := sha256.Sum256(script)
	sum := hex.EncodeToString(raw[:])
	f := newServer(t, withChannelsAndPlugins(t, dir))
	admin := f.client(t, adminToken)
	reader := f.scoped(t, "grafana", access.ObservabilityRead)
	operator := f.scoped(t, "agent", access.ChannelsOperate)

	list, err := reader.Channels.ListPlugins(ctxT(t), &palyrav1.ListPluginsRequest{})
	if err != nil || list.GetDir() != dir {
		t.Fatalf("a reader's list: %v, %v", list, err)
	}
	var ext *palyrav1.PluginFile
	for _, p := range list.GetPlugins() {
		if p.GetKind() == "ext" {
			ext = p
		}
	}
	if ext.GetState() != "untrusted" || ext.GetSha256() != sum {
		t.Fatalf("ext before trust: %v", ext)
	}
	for who, c := range map[string]*adminclient.Client{"a reader": reader, "an operator": operator} {
		wantCode(t, errOf(c.Channels.TrustPlugin(ctxT(t), &palyrav1.TrustPluginRequest{Kind: "ext"})), codes.PermissionDenied, who+" trusting")
		wantCode(t, errOf(c.Channels.UntrustPlugin(ctxT(t), &palyrav1.UntrustPluginRequest{Kind: "ext"})), codes.PermissionDenied, who+" untrusting")
	}
	wantCode(t, errOf(admin.Channels.TrustPlugin(ctxT(t), &palyrav1.TrustPluginRequest{Kind: "ext", Sha256: "abc"})), codes.InvalidArgument, "a short hash")
	wantCode(t, errOf(admin.Channels.TrustPlugin(ctxT(t), &palyrav1.TrustPluginRequest{Kind: "ext", Sha256: strings.Repeat("ab", 32)})),
		codes.InvalidArgument, "another file's hash")
	wantCode(t, errOf(admin.Channels.TrustPlugin(ctxT(t), &palyrav1.TrustPluginRequest{Kind: "../../bin/sh"})), codes.InvalidArgument, "a path as the kind")
	got, err := admin.Channels.TrustPlugin(ctxT(t), &palyrav1.TrustPluginRequest{Kind: "ext", Sha256: sum})
	if err != nil || got.GetState() != "trusted" || got.GetSha256() != sum {
		t.Fatalf("trust: %v, %v", got, err)
	}
	if _, err := admin.Channels.UntrustPlugin(ctxT(t), &palyrav1.UntrustPluginRequest{Kind: "ext"}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, errOf(admin.Channels.UntrustPlugin(ctxT(t), &palyrav1.UntrustPluginRequest{Kind: "ext"})), codes.NotFound, "forgetting it twice")

	page, err := f.store.Audit(0, 10, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range page.Entries {
		if strings.HasPrefix(e.Kind, "channels.plugin.") {
			kinds = append(kinds, e.Kind+" "+e.Subject)
			if e.Kind == "channels.plugin.trust" && !strings.Contains(e.Detail, sum) {
				t.Fatalf("trust audited without the hash: %+v", e)
			}
		}
	}
	if strings.Join(kinds, ",") != "channels.plugin.untrust ext,channels.plugin.trust ext" {
		t.Fatalf("audited: %v", kinds)
	}
}
