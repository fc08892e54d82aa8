package adminapi

import (
	"bytes"
	"context"
	"maps"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/palyra/palyra/connectors"
	"github.com/palyra/palyra/connectors/outbox"
	"github.com/palyra/palyra/connectors/platform"
	"github.com/palyra/palyra/connectors/providers/echo"
	"github.com/palyra/palyra/daemon/access"
	"github.com/palyra/palyra/daemon/secrets"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// keyed is Echo with a secret setting, token, whose value it records at each start.
type keyed struct {
	*echo.Provider

	mu     sync.Mutex
	tokens []string
}

var keyedFields = []connectors.ConfigField{{Name: "token", Label: "Token", Type: connectors.FieldSecret, Required: true}}

func (k *keyed) Describe(ctx context.Context) (connectors.Description, error) {
	d, err := k.Provider.Describe(ctx)
	d.Kind, d.Config = "keyed", keyedFields
	return d, err
}

func (k *keyed) Validate(_ context.Context, config map[string]string) error {
	return connectors.CheckConfig(keyedFields, config)
}

func (k *keyed) Start(ctx context.Context, inst connectors.Instance) (connectors.Status, error) {
	token := inst.Credentials["token"]
	if len(token) == 0 {
		return connectors.Status{Readiness: connectors.MissingCredential, Detail: "no token"}, nil
	}
	k.mu.Lock()
	k.tokens = append(k.tokens, string(token))
	k.mu.Unlock()
	inst.Config = map[string]string{}
	return k.Provider.Start(ctx, inst)
}

func (k *keyed) started() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.tokens...)
}

type secretsFixture struct {
	*fixture
	secrets  *secrets.Store
	platform *platform.Platform
	provider *keyed
}

// newSecretsServer serves the API with a secret store and a platform running the keyed
// kind, whose credentials come from that store as palyrad wires them.
func newSecretsServer(t *testing.T) *secretsFixture {
	t.Helper()
	dir := t.TempDir()
	sec, err := secrets.Open(filepath.Join(dir, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	conns, err := outbox.Open(filepath.Join(dir, outbox.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conns.Close() })
	prov := &keyed{Provider: echo.New("test")}
	p := platform.New(platform.Config{
		Store: conns, Plugins: map[string]platform.Plugin{"keyed": platform.InProcess("keyed", prov)},
		Credentials: func(in outbox.Instance, d connectors.Description) (map[string][]byte, error) {
			return sec.Credentials(in.Config, d.Config)
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { p.Run(ctx); close(ran) }()
	t.Cleanup(func() { cancel(); <-ran })
	f := newServer(t, func(_ *fixture, c *Config) { c.Secrets, c.Platform = sec, p })
	return &secretsFixture{fixture: f, secrets: sec, platform: p, provider: prov}
}

// waitFor polls until ok holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (f *secretsFixture) readiness(t *testing.T, id string) (connectors.Readiness, string) {
	t.Helper()
	v, err := f.platform.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	return v.Readiness, v.Detail
}

func TestSecretsSetListRemove(t *testing.T) {
	f := newSecretsServer(t)
	ctx := ctxT(t)
	admin := f.client(t, adminToken)

	set, err := admin.Secrets.SetSecret(ctx, &palyrav1.SetSecretRequest{Name: "discord-ops", Value: []byte("bot-token-1")})
	if err != nil {
		t.Fatal(err)
	}
	if set.GetName() != "discord-ops" || !strings.HasPrefix(set.GetFingerprint(), "sha256:") || set.GetBytes() != int32(len("bot-token-1")) ||
		set.GetUpdatedUnixMs() == 0 {
		t.Errorf("SetSecret = %v", set)
	}
	if _, err := admin.Secrets.SetSecret(ctx, &palyrav1.SetSecretRequest{Name: "spare", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	list, err := admin.Secrets.ListSecrets(ctx, &palyrav1.ListSecretsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetSecrets()) != 2 || !proto.Equal(list.GetSecrets()[0], set) || list.GetSecrets()[1].GetName() != "spare" {
		t.Errorf("ListSecrets = %v", list)
	}
	if got, _ := f.secrets.Get("discord-ops"); string(got) != "bot-token-1" {
		t.Errorf("the store holds %q", got)
	}

	if _, err := admin.Secrets.RemoveSecret(ctx, &palyrav1.RemoveSecretRequest{Name: "spare"}); err != nil {
		t.Fatal(err)
	}
	if list, _ := admin.Secrets.ListSecrets(ctx, &palyrav1.ListSecretsRequest{}); len(list.GetSecrets()) != 1 {
		t.Errorf("after RemoveSecret, ListSecrets = %v", list)
	}
	wantCode(t, errOf(admin.Secrets.RemoveSecret(ctx, &palyrav1.RemoveSecretRequest{Name: "spare"})), codes.NotFound, "removing it again")
}

func TestSecretsBadInput(t *testing.T) {
	f := newSecretsServer(t)
	ctx := ctxT(t)
	admin := f.client(t, adminToken)
	for what, req := range map[string]*palyrav1.SetSecretRequest{
		"a bad name":     {Name: "Has Space", Value: []byte("v")},
		"no name":        {Value: []byte("v")},
		"no value":       {Name: "token"},
		"too long value": {Name: "token", Value: make([]byte, connectors.MaxCredentialBytes+1)},
	} {
		err := errOf(admin.Secrets.SetSecret(ctx, req))
		wantCode(t, err, codes.InvalidArgument, what)
		if !strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the refusal gives no reason: %v", what, err)
		}
	}
	wantCode(t, errOf(admin.Secrets.RemoveSecret(ctx, &palyrav1.RemoveSecretRequest{Name: "../x"})), codes.InvalidArgument, "removing a bad name")
	if list, _ := admin.Secrets.ListSecrets(ctx, &palyrav1.ListSecretsRequest{}); len(list.GetSecrets()) != 0 {
		t.Errorf("refused sets stored %v", list)
	}
}

func TestSecretsWithoutAStoreAreUnavailable(t *testing.T) {
	f := newServer(t)
	ctx := ctxT(t)
	admin := f.client(t, adminToken)
	wantCode(t, errOf(admin.Secrets.ListSecrets(ctx, &palyrav1.ListSecretsRequest{})), codes.Unavailable, "list")
	wantCode(t, errOf(admin.Secrets.SetSecret(ctx, &palyrav1.SetSecretRequest{Name: "a", Value: []byte("v")})), codes.Unavailable, "set")
	wantCode(t, errOf(admin.Secrets.RemoveSecret(ctx, &palyrav1.RemoveSecretRequest{Name: "a"})), codes.Unavailable, "remove")
}

func TestSecretsPermissions(t *testing.T) {
	f := newSecretsServer(t)
	ctx := ctxT(t)
	if _, err := f.secrets.Set("token", []byte("v")); err != nil {
		t.Fatal(err)
	}
	reader := f.scoped(t, "dashboard", access.ObservabilityRead)
	if list, err := reader.Secrets.ListSecrets(ctx, &palyrav1.ListSecretsRequest{}); err != nil || len(list.GetSecrets()) != 1 {
		t.Fatalf("read-only token listing: %v, %v", list, err)
	}
	operator := f.scoped(t, "ops", access.ObservabilityRead, access.ChannelsOperate, access.TrustOperate)
	for who, client := range map[string]palyrav1.SecretsServiceClient{"read-only": reader.Secrets, "channels.operate": operator.Secrets} {
		err := errOf(client.SetSecret(ctx, &palyrav1.SetSecretRequest{Name: "token", Value: []byte("stolen")}))
		wantCode(t, err, codes.PermissionDenied, who+" token setting")
		if !strings.Contains(err.Error(), "needs the admin token") {
			t.Errorf("refusal does not say why: %v", err)
		}
		wantCode(t, errOf(client.RemoveSecret(ctx, &palyrav1.RemoveSecretRequest{Name: "token"})), codes.PermissionDenied, who+" token removing")
	}
	wantCode(t, errOf(f.client(t, "pa_wrong").Secrets.ListSecrets(ctx, &palyrav1.ListSecretsRequest{})), codes.Unauthenticated, "wrong token")
	if got, _ := f.secrets.Get("token"); string(got) != "v" {
		t.Errorf("the secret is %q after refused calls", got)
	}
}

func TestSecretValueNeverInAuditOrReply(t *testing.T) {
	f := newSecretsServer(t)
	ctx := ctxT(t)
	admin := f.client(t, adminToken)
	const value = "very-secret-bot-token"
	set, err := admin.Secrets.SetSecret(ctx, &palyrav1.SetSecretRequest{Name: "discord-ops", Value: []byte(value)})
	if err != nil {
		t.Fatal(err)
	}
	list, err := admin.Secrets.ListSecrets(ctx, &palyrav1.ListSecretsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Secrets.RemoveSecret(ctx, &palyrav1.RemoveSecretRequest{Name: "discord-ops"}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []proto.Message{set, list} {
		b, _ := proto.Marshal(m)
		if bytes.Contains(b, []byte(value)) {
			t.Errorf("a reply carries the value: %v", m)
		}
	}

	audit, err := admin.Audit.ListAudit(ctx, &palyrav1.ListAuditRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range audit.GetEntries() {
		b, _ := proto.Marshal(e)
		if bytes.Contains(b, []byte(value)) {
			t.Errorf("audit entry %v carries the value", e)
		}
		if strings.HasPrefix(e.GetKind(), "secrets.") {
			kinds = append(kinds, e.GetKind())
			if e.GetSubject() != "discord-ops" || e.GetDetail() != set.GetFingerprint() || e.GetActor() == "" {
				t.Errorf("audit entry %v: want the name, the actor and the fingerprint %s", e, set.GetFingerprint())
			}
		}
	}
	if strings.Join(kinds, ",") != "secrets.remove,secrets.set" { // newest first
		t.Errorf("audit kinds %v, want a set and a remove", kinds)
	}
}

// TestConnectorsFollowTheirSecret checks the path a credential takes: a connector whose
// secret is not set says how to set it, setting it starts the connector with its value, a
// new value restarts it, and removing it leaves it missing again.
func TestConnectorsFollowTheirSecret(t *testing.T) {
	f := newSecretsServer(t)
	ctx := ctxT(t)
	admin := f.client(t, adminToken)
	const id = "keyed:ops"
	if _, err := f.platform.Add(ctx, id, map[string]string{"token": "discord-ops"}); err != nil {
		t.Fatal(err)
	}
	missing := func() bool {
		r, detail := f.readiness(t, id)
		return r == connectors.MissingCredential && detail == `secret "discord-ops" is not set: palyra-tui secrets set discord-ops`
	}
	waitFor(t, "missing_credential naming the command", missing)

	for _, value := range []string{"bot-token-1", "bot-token-2"} {
		if _, err := admin.Secrets.SetSecret(ctx, &palyrav1.SetSecretRequest{Name: "discord-ops", Value: []byte(value)}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the connector started with "+value, func() bool {
			got := f.provider.started()
			r, _ := f.readiness(t, id)
			return len(got) > 0 && got[len(got)-1] == value && r == connectors.Ready
		})
	}
	// A secret no connector uses restarts nothing.
	before := len(f.provider.started())
	if _, err := admin.Secrets.SetSecret(ctx, &palyrav1.SetSecretRequest{Name: "unused", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Secrets.RemoveSecret(ctx, &palyrav1.RemoveSecretRequest{Name: "discord-ops"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "missing_credential after removing", missing)
	if got := f.provider.started(); len(got) != before {
		t.Errorf("starts %v after setting an unused secret and removing the used one, want %d", got, before)
	}
	if v, _ := f.platform.Get(id); !maps.Equal(v.Config, map[string]string{"token": "discord-ops"}) {
		t.Errorf("the connector's config became %v", v.Config)
	}
}
