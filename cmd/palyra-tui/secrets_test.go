package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"

	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// runWithStdin runs palyra-tui against the fake with stdin as its standard input.
func (f *fakeAdmin) runWithStdin(t *testing.T, stdin io.Reader, args ...string) outcome {
	t.Helper()
	t.Setenv("PALYRA_TOKEN", "")
	var stdout, stderr bytes.Buffer
	root := newRootCmd()
	root.SetArgs(append([]string{"--home", f.home, "--gateway", f.addr, "--token-file", f.tokenFile}, args...))
	root.SetIn(stdin)
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	err := root.ExecuteContext(context.Background())
	if err != nil && err.Error() != "" {
		stderr.WriteString("palyra-tui: " + err.Error() + "\n")
	}
	return outcome{code: exitCodeOf(err), stdout: stdout.String(), stderr: stderr.String()}
}

// answerSet makes the fake store each SetSecret and answer as palyrad does.
func answerSet(f *fakeAdmin) {
	on(f, palyrav1.SecretsService_SetSecret_FullMethodName, func(req *palyrav1.SetSecretRequest) (*palyrav1.Secret, error) {
		return &palyrav1.Secret{Name: req.Name, Fingerprint: "sha256:3f9a0c21b7de", Bytes: int32(len(req.Value)), UpdatedUnixMs: 1790000000000}, nil
	})
}

func TestSecretsSetFromStdin(t *testing.T) {
	f := newFakeAdmin(t)
	answerSet(f)
	for input, want := range map[string]string{
		"bot-token\n":          "bot-token",
		"bot-token\r\n":        "bot-token",
		"bot-token":            "bot-token",
		"bot-token\n\n":        "bot-token\n", // one newline only
		"  spaced token\n":     "  spaced token",
		"line one\nline two\n": "line one\nline two",
	} {
		o := f.runWithStdin(t, strings.NewReader(input), "secrets", "set", "discord-ops")
		o.expect(t, exitOK)
		if o.stdout != "secret discord-ops set (sha256:3f9a0c21b7de)\n" {
			t.Errorf("stdout %q", o.stdout)
		}
		reqs := f.got(palyrav1.SecretsService_SetSecret_FullMethodName)
		checkRequest(t, reqs[len(reqs)-1], &palyrav1.SetSecretRequest{Name: "discord-ops", Value: []byte(want)})
		if strings.Contains(o.stdout+o.stderr, strings.TrimSpace(want)) {
			t.Errorf("the value was printed: %q %q", o.stdout, o.stderr)
		}
	}
}

func TestSecretsSetRefusesBeforeSending(t *testing.T) {
	f := newFakeAdmin(t)
	answerSet(f)
	f.runWithStdin(t, strings.NewReader(""), "secrets", "set", "discord-ops").expect(t, exitUsage, "no value for discord-ops on standard input")
	f.runWithStdin(t, strings.NewReader("\n"), "secrets", "set", "discord-ops").expect(t, exitUsage, "no value for discord-ops")
	f.runWithStdin(t, strings.NewReader(strings.Repeat("x", 8<<10+1)), "secrets", "set", "discord-ops").expect(t, exitUsage, "over 8 KiB")
	f.runWithStdin(t, strings.NewReader("v"), "secrets", "set", "Bad Name").expect(t, exitUsage, `secret name "Bad Name"`)
	f.runWithStdin(t, strings.NewReader("v"), "secrets", "set", "discord-ops", "the-value").expect(t, exitUsage, "accepts 1 arg")
	f.runWithStdin(t, strings.NewReader("v"), "secrets", "set").expect(t, exitUsage)
	f.runWithStdin(t, strings.NewReader(""), "secrets").expect(t, exitUsage, "secrets needs one of set, list or remove")
	if n := len(f.got(palyrav1.SecretsService_SetSecret_FullMethodName)); n != 0 {
		t.Errorf("%d secrets sent despite the errors", n)
	}
	// The largest value goes, whole.
	f.runWithStdin(t, strings.NewReader(strings.Repeat("x", 8<<10)+"\n"), "secrets", "set", "discord-ops").expect(t, exitOK)
	if req := only[*palyrav1.SetSecretRequest](t, f, palyrav1.SecretsService_SetSecret_FullMethodName); len(req.Value) != 8<<10 {
		t.Errorf("sent %d bytes", len(req.Value))
	}
}

func TestSecretsSetNotAdmin(t *testing.T) {
	f := newFakeAdmin(t)
	f.fail(palyrav1.SecretsService_SetSecret_FullMethodName, codes.PermissionDenied, "/palyra.v1.SecretsService/SetSecret needs the admin token")
	o := f.runWithStdin(t, strings.NewReader("v\n"), "secrets", "set", "discord-ops")
	o.expect(t, exitFailure, "permission denied: /palyra.v1.SecretsService/SetSecret needs the admin token")
	if o.stdout != "" {
		t.Errorf("stdout %q", o.stdout)
	}
}

// TestSecretsSetPromptsWithoutEcho types the value at a real pseudo-terminal: the prompt
// goes to stderr and nothing typed is echoed back to the screen.
func TestSecretsSetPromptsWithoutEcho(t *testing.T) {
	f := newFakeAdmin(t)
	answerSet(f)
	term := newTerminal(t, narrowest)
	t.Setenv("PALYRA_TOKEN", "")
	done := make(chan outcome, 1)
	go func() {
		var stdout, stderr bytes.Buffer
		root := newRootCmd()
		root.SetArgs([]string{"--home", f.home, "--gateway", f.addr, "--token-file", f.tokenFile, "secrets", "set", "discord-ops"})
		root.SetIn(term.out)
		root.SetOut(&stdout)
		root.SetErr(&stderr)
		err := root.Execute()
		o := outcome{code: exitCodeOf(err), stdout: stdout.String(), stderr: stderr.String()}
		if err != nil {
			o.stderr += err.Error()
		}
		done <- o
	}()
	// Type only once echo is off, as a person would after the prompt appears.
	deadline := time.Now().Add(10 * time.Second)
	for {
		tio, err := unix.IoctlGetTermios(int(term.out.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		if tio.Lflag&unix.ECHO == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the terminal's echo was never turned off")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := term.master.Write([]byte("typed-secret-value\r")); err != nil {
		t.Fatal(err)
	}
	o := <-done
	o.expect(t, exitOK)
	if o.stderr != "Value for discord-ops: \n" || o.stdout != "secret discord-ops set (sha256:3f9a0c21b7de)\n" {
		t.Errorf("stderr %q, stdout %q", o.stderr, o.stdout)
	}
	checkRequest(t, only[*palyrav1.SetSecretRequest](t, f, palyrav1.SecretsService_SetSecret_FullMethodName),
		&palyrav1.SetSecretRequest{Name: "discord-ops", Value: []byte("typed-secret-value")})
	if tio, err := unix.IoctlGetTermios(int(term.out.Fd()), unix.TCGETS); err != nil || tio.Lflag&unix.ECHO == 0 {
		t.Errorf("echo was left off (%v)", err)
	}
	if screen := term.screen(); strings.Contains(screen, "typed-secret-value") {
		t.Errorf("the value was echoed: %q", screen)
	}
}

func TestSecretsList(t *testing.T) {
	f := newFakeAdmin(t)
	f.reply(palyrav1.SecretsService_ListSecrets_FullMethodName, &palyrav1.ListSecretsReply{Secrets: []*palyrav1.Secret{
		{Name: "discord-ops", Fingerprint: "sha256:3f9a0c21b7de", Bytes: 72, UpdatedUnixMs: 1790000000123},
		{Name: "spare", Fingerprint: "sha256:000000000001", Bytes: 1, UpdatedUnixMs: 1780000000000},
	}})
	o := f.run(t, "secrets", "list", "--json")
	o.expect(t, exitOK)
	sameJSON(t, o.stdout, `[
		{"name":"discord-ops","fingerprint":"sha256:3f9a0c21b7de","size":72,"updated_unix_ms":1790000000123},
		{"name":"spare","fingerprint":"sha256:000000000001","size":1,"updated_unix_ms":1780000000000}]`)

	o = f.runOn(t, newTerminal(t, narrowest), "secrets", "list")
	o.expect(t, exitOK)
	checkWidth(t, o.stdout)
	lines := strings.Split(strings.TrimSuffix(o.stdout, "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME         FINGERPRINT          SIZE  UPDATED") ||
		!strings.HasPrefix(lines[1], "discord-ops  sha256:3f9a0c21b7de  72    ") || !strings.HasSuffix(lines[1], "d ago") {
		t.Errorf("table:\n%s", o.stdout)
	}

	f.reply(palyrav1.SecretsService_ListSecrets_FullMethodName, &palyrav1.ListSecretsReply{})
	if o := f.run(t, "secrets", "list"); !strings.Contains(o.stdout, "no secrets; set one with `palyra-tui secrets set NAME`") {
		t.Errorf("empty list: %q", o.stdout)
	}
	if o := f.run(t, "secrets", "list", "--json"); strings.TrimSpace(o.stdout) != "[]" {
		t.Errorf("empty JSON list: %q", o.stdout)
	}
}

func TestSecretsRemove(t *testing.T) {
	f := newFakeAdmin(t)
	f.reply(palyrav1.SecretsService_RemoveSecret_FullMethodName, &palyrav1.RemoveSecretReply{})
	o := f.run(t, "secrets", "remove", "discord-ops")
	o.expect(t, exitOK)
	if o.stdout != "secret discord-ops removed\n" {
		t.Errorf("stdout %q", o.stdout)
	}
	checkRequest(t, only[*palyrav1.RemoveSecretRequest](t, f, palyrav1.SecretsService_RemoveSecret_FullMethodName),
		&palyrav1.RemoveSecretRequest{Name: "discord-ops"})

	f.fail(palyrav1.SecretsService_RemoveSecret_FullMethodName, codes.NotFound, `no such secret: "gone"`)
	f.run(t, "secrets", "remove", "gone").expect(t, exitFailure, `no such secret: "gone"`)
}
