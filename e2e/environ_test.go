package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2ESecretsStayOutOfTheServicesEnvironment: a token and a pairing code in the
// environment of `services start all` reach neither the background supervisor it starts nor
// palyrad nor palyra-browserd; their ordinary settings do.
func TestE2ESecretsStayOutOfTheServicesEnvironment(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	// The admin token itself in PALYRA_TOKEN, made before palyrad's first start: a scoped
	// one may start nothing until palyrad vouches for it.
	adminToken := "pa_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I"
	if err := os.WriteFile(filepath.Join(s.home, "admin.token"), []byte(adminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secrets := []string{
		"PALYRA_TOKEN=" + adminToken,
		"PALYRA_PAIR_CODE=163140",
		"DEPLOY_API_KEY=k-163140-deploy",
		"DB_PASSWORD=hunter2hunter2",
	}
	start := append(append([]string{}, s.env...), secrets...)
	env := s.env
	s.env = start
	_, errOut, code := s.run("services", "start", "all")
	s.env = env
	if code != 0 {
		t.Fatalf("start: %s", errOut)
	}
	st := s.waitStatus("healthy", healthy)

	pids := map[string]int{"supervisor": readPID(t, filepath.Join(s.home, "supervisor.lock"))}
	for _, svc := range st.Services {
		pids[svc.Name] = svc.PID
	}
	for proc, pid := range pids {
		environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			t.Fatalf("%s (pid %d): %v", proc, pid, err)
		}
		vars := bytes.Split(environ, []byte{0})
		has := func(prefix string) bool {
			for _, v := range vars {
				if bytes.HasPrefix(v, []byte(prefix)) {
					return true
				}
			}
			return false
		}
		for _, secret := range secrets {
			name, value, _ := strings.Cut(secret, "=")
			if has(name+"=") || bytes.Contains(environ, []byte(value)) {
				t.Errorf("%s (pid %d) has %s in its environment", proc, pid, name)
			}
		}
		for _, want := range []string{"PATH=", "PALYRA_HOME=" + s.home, "GORACE="} {
			if !has(want) {
				t.Errorf("%s (pid %d) lacks %s in its environment", proc, pid, want)
			}
		}
	}
}
