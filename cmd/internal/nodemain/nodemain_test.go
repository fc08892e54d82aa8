package nodemain_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/palyra/palyra/internal/buildinfo"
	"github.com/palyra/palyra/internal/grpcserve/servicetest"
	"github.com/palyra/palyra/node/gatewaytest"
	"github.com/palyra/palyra/node/identity"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

var palyraNode string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "palyra-node-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	palyraNode, err = servicetest.Build(dir, "github.com/palyra/palyra/cmd/palyra-node")
	// A race-enabled binary sleeps a second before a clean exit unless told not to.
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// node runs palyra-node to its end and returns its exit code, stdout and stderr.
func node(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	p := servicetest.Exec(t, palyraNode, env, args...)
	code := p.Wait(t)
	return code, p.Stdout(), p.Stderr()
}

func home(t *testing.T) string { return filepath.Join(t.TempDir(), "node") }

func nextRequest(t *testing.T, gw *gatewaytest.Gateway) *gatewaytest.Request {
	t.Helper()
	select {
	case r := <-gw.Requests:
		return r
	case <-time.After(gatewaytest.Deadline):
		t.Fatal("no pairing request reached the gateway")
		return nil
	}
}

func nextSession(t *testing.T, gw *gatewaytest.Gateway) *gatewaytest.Session {
	t.Helper()
	select {
	case s := <-gw.Sessions:
		return s
	case <-time.After(gatewaytest.Deadline):
		t.Fatal("the node did not connect")
		return nil
	}
}

func TestUsage(t *testing.T) {
	h := home(t)
	tests := []struct {
		name string
		args []string
		env  []string
		code int
		want string
	}{
		{"no command", nil, nil, 2, "usage: palyra-node <command>"},
		{"unknown command", []string{"serve"}, nil, 2, `unknown command "serve"`},
		{"help", []string{"--help"}, nil, 0, ""},
		{"command help", []string{"pair", "-h"}, nil, 0, "-ca-fingerprint"},
		{"version", []string{"version"}, nil, 0, ""},
		{"pair without code", []string{"pair", "--home", h, "--gateway", "127.0.0.1:1"}, nil, 2, "no pairing code"},
		{"pair without gateway", []string{"pair", "--home", h, "--code", "123456"}, nil, 2, "no gateway"},
		{"pair bad gateway", []string{"pair", "--home", h, "--code", "123456", "--gateway", "nohost"}, nil, 2, `"nohost" is not host:port`},
		{"pair bad fingerprint", []string{"pair", "--home", h, "--code", "123456", "--gateway", "h:1", "--ca-fingerprint", "abc"}, nil, 2, "--ca-fingerprint"},
		{"pair bad uri", []string{"pair", "--home", h}, []string{"PALYRA_PAIR_CODE=palyra://pair?addr=h:1"}, 2, "pairing URI"},
		{"pair extra argument", []string{"pair", "--home", h, "--code", "1", "extra"}, nil, 2, `unexpected argument "extra"`},
		{"run bad mediation", []string{"run", "--home", h, "--mediation", "maybe"}, nil, 2, "want prompt, allow or deny"},
		{"run not paired", []string{"run", "--home", h}, nil, 1, "not paired"},
		{"status not paired", []string{"status", "--home", h}, nil, 1, "not paired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := node(t, tt.env, tt.args...)
			if code != tt.code || !strings.Contains(stdout+stderr, tt.want) {
				t.Errorf("exit %d, want %d with %q\nstdout: %s\nstderr: %s", code, tt.code, tt.want, stdout, stderr)
			}
		})
	}
	if _, stdout, _ := node(t, nil, "version"); stdout != "palyra-node "+buildinfo.Version+"\n" {
		t.Errorf("version printed %q", stdout)
	}
}

func TestPairReadsTheCodeFromStdin(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	h := home(t)
	code := gw.Mint()
	cmd := exec.Command(palyraNode, "pair", "--home", h, "--code", "-", "--gateway", gw.Addr,
		"--name", "build-box", "--ca-fingerprint", strings.ToUpper(gw.CAFingerprint()))
	cmd.Stdin = strings.NewReader(code + "\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	req := nextRequest(t, gw)
	if req.Name != "build-box" {
		t.Errorf("request name %q", req.Name)
	}
	req.Approve()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("pair: %v\nstdout: %s\nstderr: %s", err, &stdout, &stderr)
	}
	id, err := identity.At(h).Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"matches the expected fingerprint",
		"pairing request " + req.ID + " sent; device " + req.DeviceID + " key fingerprint " + identity.KeyFingerprint(id.Key),
		"paired as " + req.DeviceID + ", certificate valid until ",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, &stdout)
		}
	}
	if strings.Contains(stdout.String()+stderr.String(), code) {
		t.Error("the pairing code was printed")
	}
	for _, name := range []string{identity.KeyFile, identity.CertFile, identity.CAFile, identity.MetaFile} {
		if info, err := os.Stat(filepath.Join(h, name)); err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", name, info.Mode(), err)
		}
	}
	if info, _ := os.Stat(h); info.Mode().Perm() != 0o700 {
		t.Errorf("home mode %v", info.Mode())
	}
}

func TestPairFromURIInEnvironmentInterrupted(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	h := home(t)
	uri := "palyra://pair?code=" + gw.Mint() + "&addr=" + gw.Addr + "&ca=" + gw.CAFingerprint()[:32]
	p := servicetest.Exec(t, palyraNode, []string{"PALYRA_PAIR_CODE=" + uri}, "pair", "--home", h)
	nextRequest(t, gw)
	p.Signal(t, os.Interrupt)
	if code := p.Wait(t); code != 130 {
		t.Fatalf("exit %d after Ctrl-C, want 130\nstderr: %s", code, p.Stderr())
	}
	if !strings.Contains(p.Stderr(), "interrupted; this node is not paired") {
		t.Errorf("stderr: %s", p.Stderr())
	}
	if _, err := identity.At(h).Load(); err != identity.ErrNotPaired {
		t.Errorf("after Ctrl-C Load = %v, want not paired", err)
	}
}

func TestPairDeniedExits1(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	p := servicetest.Exec(t, palyraNode, []string{"PALYRA_PAIR_CODE=" + gw.Mint()}, "pair", "--home", home(t), "--gateway", gw.Addr)
	nextRequest(t, gw).Deny("unknown machine")
	if code := p.Wait(t); code != 1 || !strings.Contains(p.Stderr(), "pairing denied: unknown machine") {
		t.Fatalf("exit %d\nstderr: %s", code, p.Stderr())
	}
	if !strings.Contains(p.Stdout(), "trusted on first use") || !strings.Contains(p.Stdout(), gw.CAFingerprint()) {
		t.Errorf("without --ca-fingerprint the CA fingerprint is not shown:\n%s", p.Stdout())
	}
}

func TestRunServesUntilSIGTERM(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	h := home(t)
	id := gw.Enroll(t, identity.At(h), time.Now())
	p, line := servicetest.Start(t, palyraNode, []string{"PALYRA_NODE_HOME=" + h}, "run", "--mediation", "deny")
	if line.Service != "node" || line.Version != buildinfo.Version || line.PID != p.Cmd.Process.Pid || line.Addrs["gateway"] != gw.Addr {
		t.Errorf("ready line %+v", line)
	}
	s := nextSession(t, gw)
	if s.DeviceID != id.DeviceID {
		t.Errorf("session for %s", s.DeviceID)
	}
	s.Invoke(t, &palyrav1.CapabilityInvocation{CallId: "c1", Capability: "system.info", Input: []byte(`{}`), MaxOutputBytes: 4096})
	res := s.Result(t)
	var info struct {
		NodeVersion string `json:"node_version"`
	}
	if !res.GetOk() || json.Unmarshal(res.GetOutput(), &info) != nil || info.NodeVersion != buildinfo.Version {
		t.Errorf("system.info result %v", res)
	}

	second := servicetest.Exec(t, palyraNode, []string{"PALYRA_NODE_HOME=" + h}, "run")
	if code := second.Wait(t); code != 1 || !strings.Contains(second.Stderr(), fmt.Sprintf("locked by pid %d", p.Cmd.Process.Pid)) {
		t.Errorf("second run on the same home: exit %d\n%s", code, second.Stderr())
	}

	// status must not displace the running node's session (one session per device).
	code, stdout, _ := node(t, []string{"PALYRA_NODE_HOME=" + h}, "status", "--json")
	if want := fmt.Sprintf(`"gateway_state":"not_checked","gateway_error":"palyra-node pid %d uses this identity`, p.Cmd.Process.Pid); code != 0 || !strings.Contains(stdout, want) {
		t.Errorf("status beside a running node: exit %d, want 0 and %s in\n%s", code, want, stdout)
	}
	select {
	case <-gw.Sessions:
		t.Error("status opened a session beside the running node")
	default:
	}

	p.Signal(t, syscall.SIGTERM)
	if code := p.Wait(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM\n%s", code, p.Stderr())
	}
	if lines := strings.Split(strings.TrimSpace(p.Stdout()), "\n"); len(lines) != 1 {
		t.Errorf("stdout has more than the ready line:\n%s", p.Stdout())
	}
	for _, l := range strings.Split(strings.TrimSpace(p.Stderr()), "\n") {
		if !json.Valid([]byte(l)) {
			t.Errorf("stderr line is not JSON: %s", l)
		}
	}
	if !strings.Contains(p.Stderr(), `"msg":"palyra-node stopped"`) {
		t.Errorf("no clean stop logged:\n%s", p.Stderr())
	}
}

func TestRunRevokedExits1(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	h := home(t)
	id := gw.Enroll(t, identity.At(h), time.Now())
	p, _ := servicetest.Start(t, palyraNode, nil, "run", "--home", h, "--mediation", "deny")
	nextSession(t, gw)
	gw.Revoke(id.DeviceID, "stolen")
	if code := p.Wait(t); code != 1 {
		t.Fatalf("exit %d after revocation\n%s", code, p.Stderr())
	}
	if !strings.Contains(p.Stderr(), "the gateway refused this node: device "+id.DeviceID+" revoked: stolen") {
		t.Errorf("stderr does not say why:\n%s", p.Stderr())
	}
}

func TestStatus(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	h := home(t)
	id := gw.Enroll(t, identity.At(h), time.Now())

	code, stdout, stderr := node(t, nil, "status", "--home", h)
	if code != 0 {
		t.Fatalf("status exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"device        " + id.DeviceID, "key           " + identity.KeyFingerprint(id.Key),
		"gateway CA    " + gw.CAFingerprint(), "left)", "the gateway accepts this node"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, stdout)
		}
	}
	nextSession(t, gw)

	gw.Revoke(id.DeviceID, "gone")
	code, stdout, _ = node(t, nil, "status", "--home", h, "--json")
	var report struct {
		Paired          bool   `json:"paired"`
		DeviceID        string `json:"device_id"`
		GatewayState    string `json:"gateway_state"`
		GatewayError    string `json:"gateway_error"`
		CertSecondsLeft int64  `json:"cert_seconds_left"`
	}
	if err := json.Unmarshal([]byte(stdout), &report); err != nil {
		t.Fatalf("status --json printed %q: %v", stdout, err)
	}
	if code != 1 || !report.Paired || report.DeviceID != id.DeviceID || report.GatewayState != "refused" ||
		!strings.Contains(report.GatewayError, "revoked: gone") || report.CertSecondsLeft < 23*3600 {
		t.Errorf("status of a revoked node: exit %d %+v", code, report)
	}

	gw.Stop()
	code, stdout, _ = node(t, nil, "status", "--home", h, "--json")
	if err := json.Unmarshal([]byte(stdout), &report); err != nil || code != 0 || report.GatewayState != "unreachable" {
		t.Errorf("status with the gateway down: exit %d %+v %v", code, report, err)
	}
}

func TestUnpair(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	h := home(t)
	id := gw.Enroll(t, identity.At(h), time.Now())

	gw.Stop()
	if code, _, stderr := node(t, nil, "unpair", "--home", h); code != 1 || !strings.Contains(stderr, "nothing was removed") {
		t.Fatalf("unpair with the gateway down: exit %d\n%s", code, stderr)
	}
	if _, err := identity.At(h).Load(); err != nil {
		t.Fatalf("a failed unpair removed the identity: %v", err)
	}
	gw.Restart(t)

	code, stdout, stderr := node(t, nil, "unpair", "--home", h)
	if code != 0 || !strings.Contains(stdout, "the gateway revoked device "+id.DeviceID) {
		t.Fatalf("unpair exit %d\n%s%s", code, stdout, stderr)
	}
	if dev := <-gw.Unpaired; dev != id.DeviceID {
		t.Errorf("gateway unpaired %s", dev)
	}
	for _, name := range []string{identity.KeyFile, identity.CertFile, identity.CAFile, identity.MetaFile} {
		if _, err := os.Stat(filepath.Join(h, name)); !os.IsNotExist(err) {
			t.Errorf("%s still there after unpair", name)
		}
	}
	if code, _, _ := node(t, nil, "status", "--home", h); code != 1 {
		t.Errorf("status after unpair exit %d, want 1", code)
	}
}

func TestUnpairLocalOnlyNeedsNoGateway(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	h := home(t)
	gw.Enroll(t, identity.At(h), time.Now())
	gw.Stop()
	// A damaged identity can still be forgotten locally.
	os.WriteFile(filepath.Join(h, identity.CertFile), []byte("garbage"), 0o600)
	if code, _, stderr := node(t, nil, "unpair", "--home", h); code != 1 || !strings.Contains(stderr, "--local-only") {
		t.Errorf("unpair of a damaged identity: exit %d\n%s", code, stderr)
	}
	if code, stdout, stderr := node(t, nil, "unpair", "--home", h, "--local-only"); code != 0 || !strings.Contains(stdout, "identity removed") {
		t.Fatalf("unpair --local-only: exit %d\n%s%s", code, stdout, stderr)
	}
	select {
	case <-gw.Unpaired:
		t.Error("--local-only called the gateway")
	default:
	}
}
