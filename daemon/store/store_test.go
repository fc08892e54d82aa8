package store

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestOpenCreatesStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	assertMode(t, path, 0o600)
	assertMode(t, path+".pid", 0o600)
	pid, err := os.ReadFile(path + ".pid")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(pid)), strconv.Itoa(os.Getpid()); got != want {
		t.Errorf("pid file holds %q, want %q", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".pid"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file after Close: %v, want it removed", err)
	}
	if got := readSchemaVersion(t, path); got != schemaVersion {
		t.Errorf("schema version %d, want %d", got, schemaVersion)
	}
	checkConsistent(t, path)

	s, err = Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, path)
}

func TestOpenLockedNamesHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	_, err = Open(path)
	var locked *LockedError
	if !errors.As(err, &locked) {
		t.Fatalf("second Open: %v, want a LockedError", err)
	}
	if locked.PID != os.Getpid() {
		t.Errorf("holder pid %d, want %d", locked.PID, os.Getpid())
	}
	want := "daemon.db is locked by pid " + strconv.Itoa(os.Getpid()) + " (another palyrad on this home?)"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

func TestOpenDamagedLeavesFileUntouched(t *testing.T) {
	sound := soundFile(t)
	garbage := make([]byte, 64<<10)
	rand.Read(garbage)
	badVersion := withSchemaValue(t, []byte{1, 2, 3})

	tests := []struct {
		name string
		data []byte
	}{
		{"garbage", garbage},
		{"empty", nil},
		{"truncated inside the first meta page", sound[:1024]},
		{"truncated inside the second meta page", sound[:6000]},
		{"truncated after the meta pages", sound[:3*4096]},
		{"truncated below the high-water mark", sound[:5*4096]},
		{"schema version of the wrong size", badVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), FileName)
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			before := sha256.Sum256(tt.data)

			s, err := Open(path)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			var damaged *DamagedError
			if !errors.As(err, &damaged) {
				t.Fatalf("Open: %v, want a DamagedError", err)
			}
			for _, want := range []string{path, "move it aside", "backup"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if sha256.Sum256(after) != before {
				t.Error("Open modified the damaged file")
			}
		})
	}
}

func TestOpenRefusesOtherSchema(t *testing.T) {
	data := withSchemaValue(t, binary.BigEndian.AppendUint64(nil, schemaVersion+1))
	path := filepath.Join(t.TempDir(), FileName)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path)
	if !errors.Is(err, ErrSchema) {
		t.Fatalf("Open: %v, want ErrSchema", err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after, data) {
		t.Error("Open modified the file")
	}
}

// soundFile returns the bytes of a freshly created store.
func soundFile(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// withSchemaValue returns the bytes of a store whose schema version value is v.
func withSchemaValue(t *testing.T, v []byte) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	if err := os.WriteFile(path, soundFile(t), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchemaVersion, v) })
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func readSchemaVersion(t *testing.T, path string) uint64 {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v uint64
	err = db.View(func(tx *bolt.Tx) error {
		v = binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get(keySchemaVersion))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func checkConsistent(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	})
	if err != nil {
		t.Errorf("consistency check: %v", err)
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s has mode %v, want %v", filepath.Base(path), got, want)
	}
}
