package childenv

import (
	"slices"
	"testing"
)

func TestFilter(t *testing.T) {
	in := []string{
		"PATH=/usr/bin", "HOME=/root", "USER=root", "LOGNAME=root", "LANG=C.UTF-8", "LC_ALL=C", "TZ=UTC",
		"TMPDIR=/tmp", "XDG_STATE_HOME=/s", "NO_COLOR=1", "GORACE=atexit_sleep_ms=0", "GOCOVERDIR=/cov",
		"PALYRA_HOME=/h", "PALYRA_ADMIN_ADDR=127.0.0.1:0", "PALYRA_GATEWAY_CA=/h/pki/ca.crt",
		"PALYRA_TOKEN=pt_0a1b2c3d4e5f_x", "PALYRA_PAIR_CODE=123456", "PALYRA_ADMIN_TOKEN_FILE=/t",
		"GITHUB_TOKEN=ghp_x", "AWS_SECRET_ACCESS_KEY=x", "AWS_ACCESS_KEY_ID=x", "DB_PASSWORD=x", "api_key=x",
		"SSH_AUTH_SOCK=/run/agent", "TERM=xterm", "DISPLAY=:0", "SHELL=/bin/bash", "=weird", "noequals",
		"BENCH_CHILD_MODE=flood", "BENCH_CHILD_TOKEN=x", "EXTRA_ONE=1", "EXTRA_TWO=2",
	}
	want := []string{
		"PATH=/usr/bin", "HOME=/root", "USER=root", "LOGNAME=root", "LANG=C.UTF-8", "LC_ALL=C", "TZ=UTC",
		"TMPDIR=/tmp", "XDG_STATE_HOME=/s", "NO_COLOR=1", "GORACE=atexit_sleep_ms=0", "GOCOVERDIR=/cov",
		"PALYRA_HOME=/h", "PALYRA_ADMIN_ADDR=127.0.0.1:0", "PALYRA_GATEWAY_CA=/h/pki/ca.crt",
	}
	if got := Filter(in); !slices.Equal(got, want) {
		t.Errorf("Filter\n got %q\nwant %q", got, want)
	}

	withExtra := append(slices.Clone(in), PassEnv+"=BENCH_CHILD_*, EXTRA_ONE,PALYRA_TOKEN,GITHUB_*")
	want = append(want, "BENCH_CHILD_MODE=flood", "EXTRA_ONE=1", PassEnv+"=BENCH_CHILD_*, EXTRA_ONE,PALYRA_TOKEN,GITHUB_*")
	got := Filter(withExtra)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Filter with %s\n got %q\nwant %q", PassEnv, got, want)
	}
}

func TestSecretNames(t *testing.T) {
	for _, name := range []string{"PALYRA_TOKEN", "PALYRA_PAIR_CODE", "github_token", "Client_Secret", "DB_PASSWORD",
		"MYSQL_PWD_PASSWD", "GPG_PASSPHRASE", "SSH_KEY", "AWS_ACCESS_KEY_ID", "GOOGLE_APPLICATION_CREDENTIALS"} {
		if !secret(name) {
			t.Errorf("secret(%q) = false", name)
		}
	}
	for _, name := range []string{"PATH", "PALYRA_HOME", "PALYRA_GATEWAY_CA", "LANG", "XDG_RUNTIME_DIR"} {
		if secret(name) {
			t.Errorf("secret(%q) = true", name)
		}
	}
}
