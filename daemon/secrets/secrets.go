// Package secrets is palyrad's store of connector credentials: named values sealed at rest
// with AES-256-GCM under a key of their own, shown to operators only as fingerprints. It
// knows nothing of gRPC or the TUI.
//
// A store is a directory (0700) of two files, each 0600: KeyFile, 32 random bytes made on
// first use, and SealedFile, every secret in one file, replaced whole on each change. Each
// value is sealed with a random nonce and its own name as additional data, so a value moved
// to another name does not open; the file as a whole carries an HMAC, so no byte of it can
// change unnoticed.
package secrets

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/palyra/palyra/connectors"
)

// The store's directory in palyrad's state directory, and the files in it.
const (
	DirName    = "secrets"
	KeyFile    = "secrets.key"
	SealedFile = "secrets.sealed"
)

// Bounds of what a store holds.
const (
	MaxSecrets    = 256
	MaxValueBytes = connectors.MaxCredentialBytes
	keyBytes      = 32
	nonceBytes    = 12
	// maxFileBytes is more than the largest file MaxSecrets values of MaxValueBytes make.
	maxFileBytes = 4 << 20
)

// Errors a caller can act on.
var (
	ErrNotFound = errors.New("no such secret")
	ErrInvalid  = errors.New("invalid")
	ErrTooMany  = fmt.Errorf("the store holds %d secrets, its most", MaxSecrets)
	// ErrDamaged is a store that does not open as it was written: a file changed or cut
	// short, or a key that is not the one the secrets were sealed with.
	ErrDamaged  = errors.New("damaged")
	errWrongKey = errors.New("sealed with another key")
)

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// CheckName says why name cannot name a secret, or nil.
func CheckName(name string) error {
	if !namePattern.MatchString(name) {
		return invalidError(fmt.Sprintf("secret name %q: want 1 to 64 of a-z 0-9 _ . - starting with a letter or digit", name))
	}
	return nil
}

func checkValue(value []byte) error {
	if len(value) == 0 || len(value) > MaxValueBytes {
		return invalidError(fmt.Sprintf("a secret's value is 1 byte to %d KiB, not %d bytes", MaxValueBytes>>10, len(value)))
	}
	return nil
}

// invalidError is bad input, said as what is wanted; it is ErrInvalid.
type invalidError string

func (e invalidError) Error() string      { return string(e) }
func (invalidError) Is(target error) bool { return target == ErrInvalid }

// Info is what may be shown of a secret.
type Info struct {
	Name string
	// Fingerprint tells values apart without revealing them: a keyed hash, so a guess at the
	// value cannot be checked against it without the store's key.
	Fingerprint string
	UpdatedAt   time.Time
	Size        int // bytes
}

// Store is an open secret store; it is safe for concurrent use.
type Store struct {
	dir   string
	aead  cipher.AEAD
	mac   []byte // key of the file's HMAC
	fpKey []byte // key of the fingerprints
	keyID string // names the key in the file, to tell a wrong key from a damaged file

	mu      sync.RWMutex
	entries map[string]entry
}

// entry is one sealed secret as kept in memory and on disk.
type entry struct {
	Name      string `json:"name"`
	Nonce     []byte `json:"nonce"`
	Sealed    []byte `json:"sealed"`
	UpdatedMs int64  `json:"updated_unix_ms"`

	fingerprint string
}

func (e entry) info() Info {
	return Info{Name: e.Name, Fingerprint: e.fingerprint, UpdatedAt: time.UnixMilli(e.UpdatedMs), Size: len(e.Sealed) - aeadOverhead}
}

const aeadOverhead = 16 // the GCM tag

// fileBody is the sealed file's middle line.
type fileBody struct {
	Secrets []entry `json:"secrets"`
}

const fileMagic = "palyra-secrets 1"

// Open opens the store in dir, creating dir (0700) and its key on first use. A key file that
// is missing beside secrets, of the wrong size or readable by others, and a sealed file that
// does not open, are errors that name the file: nothing is replaced or dropped.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("secret store: %w", err)
	}
	key, err := loadOrCreateKey(dir)
	if err != nil {
		return nil, err
	}
	s, err := newStore(dir, key)
	if err != nil {
		return nil, err
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

func loadOrCreateKey(dir string) ([]byte, error) {
	keyPath, sealedPath := filepath.Join(dir, KeyFile), filepath.Join(dir, SealedFile)
	info, err := os.Stat(keyPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, err := os.Stat(sealedPath); err == nil {
			return nil, fmt.Errorf("%s exists but its key %s is missing: restore %s from a backup; a new key cannot open the secrets sealed with the old one", sealedPath, keyPath, KeyFile)
		}
		return createKey(dir, keyPath)
	case err != nil:
		return nil, fmt.Errorf("secret store key: %w", err)
	case info.Mode().Perm()&0o077 != 0:
		return nil, fmt.Errorf("secret store key %s is readable by others (mode %04o): whoever reads it with %s can read every connector credential; chmod 600 %s (and chmod 700 %s)",
			keyPath, info.Mode().Perm(), SealedFile, keyPath, dir)
	case info.Size() != keyBytes:
		return nil, fmt.Errorf("secret store key %s holds %d bytes, not %d: it is damaged; restore it from a backup", keyPath, info.Size(), keyBytes)
	}
	key, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("secret store key: %w", err)
	}
	if len(key) != keyBytes {
		return nil, fmt.Errorf("secret store key %s holds %d bytes, not %d: it is damaged; restore it from a backup", keyPath, len(key), keyBytes)
	}
	return key, nil
}

func createKey(dir, path string) ([]byte, error) {
	key := make([]byte, keyBytes)
	rand.Read(key)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create secret store key: %w", err)
	}
	_, err = f.Write(key)
	if err == nil {
		err = f.Sync()
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("create secret store key %s: %w", path, err)
	}
	return key, nil
}

func newStore(dir string, key []byte) (*Store, error) {
	derive := func(purpose string) []byte {
		k, err := hkdf.Key(sha256.New, key, nil, "palyra secrets: "+purpose, keyBytes)
		if err != nil {
			panic(err) // only for a length sha256 cannot reach
		}
		return k
	}
	block, err := aes.NewCipher(derive("values"))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Store{
		dir: dir, aead: aead, mac: derive("file mac"), fpKey: derive("fingerprints"),
		keyID: hex.EncodeToString(derive("key id")[:8]), entries: map[string]entry{},
	}, nil
}

func (s *Store) sealedPath() string { return filepath.Join(s.dir, SealedFile) }

// load reads the sealed file, checking every byte of it and opening every value.
func (s *Store) load() error {
	path := s.sealedPath()
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("secret store: %w", err)
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("secret store %s is readable by others (mode %04o); chmod 600 %s", path, info.Mode().Perm(), path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return fmt.Errorf("secret store: %w", err)
	}
	entries, err := s.decode(data)
	if errors.Is(err, errWrongKey) {
		return fmt.Errorf("secret store %s does not open with %s (%w): it was sealed with another key, or its first line is damaged; restore the two files together from a backup",
			path, filepath.Join(s.dir, KeyFile), ErrDamaged)
	}
	if err != nil {
		return fmt.Errorf("secret store %s is %w: %v; restore it from a backup, or remove it and set every secret again", path, ErrDamaged, err)
	}
	s.entries = entries
	return nil
}

func (s *Store) decode(data []byte) (map[string]entry, error) {
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("it is over %d MiB, larger than the store writes", maxFileBytes>>20)
	}
	lines := strings.Split(string(data), "\n")
	if len(lines) != 4 || lines[3] != "" {
		return nil, errors.New("it is not three lines (cut short?)")
	}
	header, body, macLine := lines[0], lines[1], lines[2]
	keyID, ok := strings.CutPrefix(header, fileMagic+" key=")
	if !ok {
		return nil, errors.New("its first line is not a secret store's")
	}
	if keyID != s.keyID {
		return nil, errWrongKey
	}
	sum, ok := strings.CutPrefix(macLine, "mac=")
	want, err := hex.DecodeString(sum)
	if !ok || err != nil || !hmac.Equal(want, s.fileMAC(header, body)) {
		return nil, errors.New("its seal does not match its contents (changed or cut short)")
	}
	var parsed fileBody
	if err := json.Unmarshal([]byte(body), &parsed); err != nil {
		return nil, fmt.Errorf("its contents do not parse: %v", err)
	}
	if len(parsed.Secrets) > MaxSecrets {
		return nil, fmt.Errorf("it holds %d secrets, more than %d", len(parsed.Secrets), MaxSecrets)
	}
	entries := make(map[string]entry, len(parsed.Secrets))
	for _, e := range parsed.Secrets {
		if err := CheckName(e.Name); err != nil {
			return nil, err
		}
		if _, dup := entries[e.Name]; dup {
			return nil, fmt.Errorf("secret %q is in it twice", e.Name)
		}
		value, err := s.open(e)
		if err != nil {
			return nil, err
		}
		e.fingerprint = s.fingerprint(value)
		clear(value)
		entries[e.Name] = e
	}
	return entries, nil
}

func (s *Store) open(e entry) ([]byte, error) {
	if len(e.Nonce) != nonceBytes || len(e.Sealed) <= aeadOverhead || len(e.Sealed) > MaxValueBytes+aeadOverhead {
		return nil, fmt.Errorf("secret %q is not a sealed value", e.Name)
	}
	value, err := s.aead.Open(nil, e.Nonce, e.Sealed, []byte(e.Name))
	if err != nil {
		return nil, fmt.Errorf("secret %q does not open under its name (moved from another name, or changed)", e.Name)
	}
	return value, nil
}

func (s *Store) fileMAC(header, body string) []byte {
	m := hmac.New(sha256.New, s.mac)
	io.WriteString(m, header+"\n"+body+"\n")
	return m.Sum(nil)
}

func (s *Store) fingerprint(value []byte) string {
	m := hmac.New(sha256.New, s.fpKey)
	m.Write(value)
	return "sha256:" + hex.EncodeToString(m.Sum(nil))[:12]
}

// Set stores value under name, replacing what was there.
func (s *Store) Set(name string, value []byte) (Info, error) {
	if err := CheckName(name); err != nil {
		return Info{}, err
	}
	if err := checkValue(value); err != nil {
		return Info{}, err
	}
	nonce := make([]byte, nonceBytes)
	rand.Read(nonce)
	e := entry{
		Name: name, Nonce: nonce, Sealed: s.aead.Seal(nil, nonce, value, []byte(name)),
		UpdatedMs: time.Now().UnixMilli(), fingerprint: s.fingerprint(value),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[name]; !ok && len(s.entries) >= MaxSecrets {
		return Info{}, ErrTooMany
	}
	next := make(map[string]entry, len(s.entries)+1)
	for k, v := range s.entries {
		next[k] = v
	}
	next[name] = e
	if err := s.write(next); err != nil {
		return Info{}, err
	}
	s.entries = next
	return e.info(), nil
}

// Get returns the value of name; ErrNotFound if there is none.
func (s *Store) Get(name string) ([]byte, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	s.mu.RLock()
	e, ok := s.entries[name]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return s.open(e)
}

// Remove deletes name and returns what it was; ErrNotFound if there is none.
func (s *Store) Remove(name string) (Info, error) {
	if err := CheckName(name); err != nil {
		return Info{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[name]
	if !ok {
		return Info{}, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	next := make(map[string]entry, len(s.entries))
	for k, v := range s.entries {
		if k != name {
			next[k] = v
		}
	}
	if err := s.write(next); err != nil {
		return Info{}, err
	}
	s.entries = next
	return e.info(), nil
}

// List returns every secret's Info, by name.
func (s *Store) List() []Info {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Info, 0, len(s.entries))
	for _, e := range s.entries {
		out = append(out, e.info())
	}
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Credentials returns, by field name, the values of the secrets that config names in fields
// of type connectors.FieldSecret; a field left empty is skipped. A named secret that is not
// set is an error that says how to set it.
func (s *Store) Credentials(config map[string]string, fields []connectors.ConfigField) (map[string][]byte, error) {
	var creds map[string][]byte
	for _, f := range fields {
		name := config[f.Name]
		if f.Type != connectors.FieldSecret || name == "" {
			continue
		}
		if CheckName(name) != nil {
			return nil, fmt.Errorf("setting %s names %q, which is no secret name: set it to the name of a secret from `palyra-tui secrets list`", f.Name, name)
		}
		value, err := s.Get(name)
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("secret %q is not set: palyra-tui secrets set %s", name, name)
		}
		if err != nil {
			return nil, err
		}
		if creds == nil {
			creds = map[string][]byte{}
		}
		creds[f.Name] = value
	}
	return creds, nil
}

// write replaces the sealed file with entries: a temporary file in the same directory,
// synced, renamed over the old one, and the directory synced, so a crash leaves the old file
// or the new one, whole.
func (s *Store) write(entries map[string]entry) error {
	body := fileBody{Secrets: make([]entry, 0, len(entries))}
	for _, e := range entries {
		body.Secrets = append(body.Secrets, e)
	}
	slices.SortFunc(body.Secrets, func(a, b entry) int { return strings.Compare(a.Name, b.Name) })
	js, err := json.Marshal(body)
	if err != nil {
		return err
	}
	header := fileMagic + " key=" + s.keyID
	var b bytes.Buffer
	b.WriteString(header + "\n")
	b.Write(js)
	b.WriteString("\nmac=" + hex.EncodeToString(s.fileMAC(header, string(js))) + "\n")

	path := s.sealedPath()
	tmp, err := os.CreateTemp(s.dir, "."+SealedFile+".*") // 0600
	if err != nil {
		return fmt.Errorf("save secrets: %w", err)
	}
	_, err = tmp.Write(b.Bytes())
	if err == nil {
		err = tmp.Sync()
	}
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("save secrets to %s (nothing changed): %w", path, err)
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("save secrets to %s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// String hides the store's insides from %v.
func (s *Store) String() string { return "secrets.Store(" + strconv.Quote(s.dir) + ")" }
