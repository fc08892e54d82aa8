package secrets

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/palyra/palyra/connectors"
)

func open(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func set(t *testing.T, s *Store, name, value string) Info {
	t.Helper()
	info, err := s.Set(name, []byte(value))
	if err != nil {
		t.Fatalf("Set(%q): %v", name, err)
	}
	return info
}

func get(t *testing.T, s *Store, name string) string {
	t.Helper()
	v, err := s.Get(name)
	if err != nil {
		t.Fatalf("Get(%q): %v", name, err)
	}
	return string(v)
}

func TestRoundTripAndReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	s := open(t, dir)
	if got := s.List(); len(got) != 0 {
		t.Fatalf("a new store lists %v", got)
	}
	info := set(t, s, "discord-ops", "bot-token-123")
	if info.Name != "discord-ops" || info.Size != len("bot-token-123") || info.UpdatedAt.IsZero() || !strings.HasPrefix(info.Fingerprint, "sha256:") {
		t.Errorf("Set returned %+v", info)
	}
	set(t, s, "a.b_c", "other")
	set(t, s, "discord-ops", "bot-token-456") // replaces
	if got := get(t, s, "discord-ops"); got != "bot-token-456" {
		t.Errorf("Get = %q", got)
	}

	again := open(t, dir)
	if got := get(t, again, "discord-ops"); got != "bot-token-456" {
		t.Errorf("after reopening, Get = %q", got)
	}
	if got, want := again.List(), s.List(); fmt.Sprint(got) != fmt.Sprint(want) || len(got) != 2 || got[0].Name != "a.b_c" {
		t.Errorf("after reopening, List = %v, want %v", got, want)
	}

	removed, err := again.Remove("a.b_c")
	if err != nil || removed.Name != "a.b_c" || removed.Fingerprint != again.fingerprint([]byte("other")) {
		t.Fatalf("Remove = %+v, %v", removed, err)
	}
	if _, err := again.Get("a.b_c"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Remove: %v, want ErrNotFound", err)
	}
	if _, err := again.Remove("a.b_c"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove twice: %v, want ErrNotFound", err)
	}
	if got := open(t, dir).List(); len(got) != 1 || got[0].Name != "discord-ops" {
		t.Errorf("after Remove and reopening, List = %v", got)
	}
}

func TestValuesAreSealedOnDisk(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	info := set(t, s, "token", "plain-value-to-look-for")
	data, err := os.ReadFile(filepath.Join(dir, SealedFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"plain-value-to-look-for", strings.TrimPrefix(info.Fingerprint, "sha256:")} {
		if bytes.Contains(data, []byte(leak)) {
			t.Errorf("the sealed file holds %q", leak)
		}
	}
}

func TestPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	s := open(t, dir)
	set(t, s, "token", "value")
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, KeyFile): 0o600, filepath.Join(dir, SealedFile): 0o600} {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s has mode %04o, want %04o", path, got, want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("the directory holds %d files, want the key and the sealed file only", len(entries))
	}
	if info, _ := os.Stat(filepath.Join(dir, KeyFile)); info.Size() != keyBytes {
		t.Errorf("key file holds %d bytes", info.Size())
	}
}

func TestKeyFileFaults(t *testing.T) {
	for name, tc := range map[string]struct {
		spoil func(keyPath string)
		want  string
	}{
		"too open":    {func(p string) { os.Chmod(p, 0o644) }, "readable by others (mode 0644)"},
		"short":       {func(p string) { os.WriteFile(p, []byte("short"), 0o600) }, "holds 5 bytes, not 32"},
		"long":        {func(p string) { os.WriteFile(p, make([]byte, 33), 0o600) }, "holds 33 bytes, not 32"},
		"missing":     {func(p string) { os.Remove(p) }, "its key"},
		"another key": {func(p string) { os.WriteFile(p, bytes.Repeat([]byte{7}, 32), 0o600) }, "secrets.key (damaged): it was sealed with another key"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			set(t, open(t, dir), "token", "value")
			keyPath := filepath.Join(dir, KeyFile)
			sealed, _ := os.ReadFile(filepath.Join(dir, SealedFile))
			tc.spoil(keyPath)
			_, err := Open(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("Open = %v, want an error naming the file and saying %q", err, tc.want)
			}
			if after, _ := os.ReadFile(filepath.Join(dir, SealedFile)); !bytes.Equal(after, sealed) {
				t.Error("the sealed file was changed")
			}
		})
	}
}

// rewrite changes the sealed file's body and seals the file again with the store's own
// file key, so only the per-value seal stands between the change and a wrong value.
func rewrite(t *testing.T, s *Store, change func(*fileBody)) {
	t.Helper()
	path := filepath.Join(s.dir, SealedFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	var body fileBody
	if err := json.Unmarshal([]byte(lines[1]), &body); err != nil {
		t.Fatal(err)
	}
	change(&body)
	js, _ := json.Marshal(body)
	out := lines[0] + "\n" + string(js) + "\nmac=" + hex.EncodeToString(s.fileMAC(lines[0], string(js))) + "\n"
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestValueMovedToAnotherNameDoesNotOpen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	set(t, s, "alpha", "value-of-alpha")
	set(t, s, "beta", "value-of-beta")
	rewrite(t, s, func(b *fileBody) {
		b.Secrets[0].Nonce, b.Secrets[1].Nonce = b.Secrets[1].Nonce, b.Secrets[0].Nonce
		b.Secrets[0].Sealed, b.Secrets[1].Sealed = b.Secrets[1].Sealed, b.Secrets[0].Sealed
	})
	_, err := Open(dir)
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), `secret "alpha" does not open under its name`) ||
		!strings.Contains(err.Error(), filepath.Join(dir, SealedFile)) {
		t.Fatalf("Open after swapping values = %v", err)
	}
}

func TestDamagedFileIsRefusedUntouched(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	set(t, s, "alpha", "value-of-alpha")
	set(t, s, "beta", "value-of-beta")
	path := filepath.Join(dir, SealedFile)
	good, _ := os.ReadFile(path)

	check := func(what string, data []byte) {
		t.Helper()
		os.WriteFile(path, data, 0o600)
		_, err := Open(dir)
		if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: Open = %v, want a damaged-file error naming %s", what, err, path)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
			t.Errorf("%s: the file was changed", what)
		}
	}
	for i := range good {
		flipped := bytes.Clone(good)
		flipped[i] ^= 0x01
		check(fmt.Sprintf("byte %d flipped", i), flipped)
	}
	for _, n := range []int{0, 1, len(good) / 2, len(good) - 1} {
		check(fmt.Sprintf("cut to %d bytes", n), good[:n])
	}
	check("grown past the bound", append(bytes.Clone(good), bytes.Repeat([]byte("x"), maxFileBytes)...))

	os.WriteFile(path, good, 0o600)
	if got := get(t, open(t, dir), "beta"); got != "value-of-beta" {
		t.Errorf("restored file: Get = %q", got)
	}
}

func TestNameBounds(t *testing.T) {
	s := open(t, t.TempDir())
	for name, ok := range map[string]bool{
		"a": true, "0": true, "discord-ops": true, "a.b_c-d": true, strings.Repeat("a", 64): true,
		"": false, strings.Repeat("a", 65): false, "Discord": false, "-lead": false, ".hidden": false, "_x": false,
		"has space": false, "slash/name": false, "../up": false, "tab\t": false, "new\nline": false, "émoji": false,
	} {
		_, err := s.Set(name, []byte("v"))
		if ok && err != nil {
			t.Errorf("Set(%q): %v", name, err)
		}
		if !ok && !errors.Is(err, ErrInvalid) {
			t.Errorf("Set(%q) = %v, want ErrInvalid", name, err)
		}
		if _, err := s.Get(name); !ok && !errors.Is(err, ErrInvalid) {
			t.Errorf("Get(%q) = %v, want ErrInvalid", name, err)
		}
	}
}

func TestValueBounds(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	for _, v := range [][]byte{nil, {}, make([]byte, MaxValueBytes+1)} {
		if _, err := s.Set("token", v); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "8 KiB") {
			t.Errorf("Set of %d bytes = %v, want ErrInvalid naming the bound", len(v), err)
		}
	}
	biggest := bytes.Repeat([]byte{0xff}, MaxValueBytes)
	if _, err := s.Set("token", biggest); err != nil {
		t.Fatal(err)
	}
	if got, _ := open(t, dir).Get("token"); !bytes.Equal(got, biggest) {
		t.Error("the largest value did not come back whole")
	}
}

func TestAtMostMaxSecrets(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	for i := range MaxSecrets {
		set(t, s, fmt.Sprintf("s%03d", i), "v")
	}
	if _, err := s.Set("one-more", []byte("v")); !errors.Is(err, ErrTooMany) {
		t.Fatalf("Set of secret %d = %v, want ErrTooMany", MaxSecrets+1, err)
	}
	set(t, s, "s000", "replacing one is fine")
	again := open(t, dir)
	if n := len(again.List()); n != MaxSecrets {
		t.Errorf("reopened store lists %d", n)
	}
	if _, err := again.Get("one-more"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the refused secret: %v", err)
	}
}

// TestFullStoreFitsTheFileBound checks that the largest store Set can make opens again.
func TestFullStoreFitsTheFileBound(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	value := bytes.Repeat([]byte{0xff}, MaxValueBytes)
	full := map[string]entry{}
	for i := range MaxSecrets {
		name := strings.Repeat("n", 61) + fmt.Sprintf("%03d", i)
		nonce := make([]byte, nonceBytes)
		full[name] = entry{Name: name, Nonce: nonce, Sealed: s.aead.Seal(nil, nonce, value, []byte(name)), UpdatedMs: 1}
	}
	if err := s.write(full); err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(filepath.Join(dir, SealedFile))
	t.Logf("a full store's file: %d bytes of %d", info.Size(), maxFileBytes)
	if n := len(open(t, dir).List()); n != MaxSecrets {
		t.Errorf("reopened full store lists %d", n)
	}
}

func TestFingerprint(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	a1 := set(t, s, "a", "same value").Fingerprint
	b := set(t, s, "b", "same value").Fingerprint
	a2 := set(t, s, "a", "same value").Fingerprint
	c := set(t, s, "c", "another value").Fingerprint
	if a1 != a2 || a1 != b {
		t.Errorf("the same value fingerprints %s, %s, %s", a1, a2, b)
	}
	if c == a1 {
		t.Errorf("different values share fingerprint %s", c)
	}
	if len(a1) != len("sha256:")+12 {
		t.Errorf("fingerprint %q, want sha256: and 12 hex digits", a1)
	}
	if reopened := open(t, dir).List(); reopened[0].Fingerprint != a1 {
		t.Errorf("after reopening, fingerprint %s, want %s", reopened[0].Fingerprint, a1)
	}
	// Keyed: another store's key gives the same value another fingerprint, so a guess at a
	// value cannot be checked against a fingerprint.
	if other := set(t, open(t, t.TempDir()), "a", "same value").Fingerprint; other == a1 {
		t.Error("two keys give the same fingerprint")
	}
}

func TestCredentials(t *testing.T) {
	s := open(t, t.TempDir())
	set(t, s, "discord-ops", "bot-token")
	fields := []connectors.ConfigField{
		{Name: "token", Type: connectors.FieldSecret},
		{Name: "spare", Type: connectors.FieldSecret},
		{Name: "guild", Type: connectors.FieldString},
	}
	creds, err := s.Credentials(map[string]string{"token": "discord-ops", "guild": "discord-ops"}, fields)
	if err != nil || len(creds) != 1 || string(creds["token"]) != "bot-token" {
		t.Fatalf("Credentials = %q, %v", creds, err)
	}
	_, err = s.Credentials(map[string]string{"token": "missing"}, fields)
	if err == nil || err.Error() != `secret "missing" is not set: palyra-tui secrets set missing` {
		t.Errorf("unset secret: %v", err)
	}
	_, err = s.Credentials(map[string]string{"token": "Not A Name"}, fields)
	if err == nil || !strings.Contains(err.Error(), `setting token names "Not A Name"`) {
		t.Errorf("bad name: %v", err)
	}
	if creds, err := s.Credentials(map[string]string{}, fields); err != nil || creds != nil {
		t.Errorf("no secret named: %v, %v", creds, err)
	}
}

func TestConcurrentSetGet(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	const writers, rounds = 4, 10
	var wg sync.WaitGroup
	for w := range writers {
		name := fmt.Sprintf("w%d", w)
		wg.Go(func() {
			for r := range rounds {
				if _, err := s.Set(name, fmt.Appendf(nil, "%s-%d", name, r)); err != nil {
					t.Error(err)
					return
				}
				v, err := s.Get(name)
				if err != nil || !strings.HasPrefix(string(v), name+"-") {
					t.Errorf("Get(%s) = %q, %v", name, v, err)
				}
				s.List()
			}
		})
		wg.Go(func() {
			for range rounds {
				if _, err := s.Get("shared"); err != nil && !errors.Is(err, ErrNotFound) {
					t.Error(err)
				}
				s.Set("shared", []byte(name))
			}
		})
	}
	wg.Wait()
	again := open(t, dir)
	for w := range writers {
		name := fmt.Sprintf("w%d", w)
		if got := get(t, again, name); got != fmt.Sprintf("%s-%d", name, rounds-1) {
			t.Errorf("%s after reopening = %q", name, got)
		}
	}
	if n := len(again.List()); n != writers+1 {
		t.Errorf("%d secrets after reopening, want %d", n, writers+1)
	}
}
