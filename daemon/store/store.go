// Package store is palyrad's durable state: the bbolt file daemon.db in the state directory.
// It is the only package of the daemon that imports bbolt. The free text that reaches it
// from clients (approval summaries, details and decision reasons, audit details) is redacted
// (internal/redact) as it is written, so a pasted token never reaches the file or a reader.
package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/palyra/palyra/internal/boltfile"
)

// FileName is the store's file name inside the state directory.
const FileName = "daemon.db"

// ErrSchema says daemon.db has a layout this build cannot use.
var ErrSchema = errors.New("unsupported schema version")

// The errors of opening and writing the file (see internal/boltfile).
var ErrDiskFull = boltfile.ErrDiskFull

type (
	LockedError  = boltfile.LockedError
	DamagedError = boltfile.DamagedError
)

// Store is an open daemon.db.
type Store struct {
	file *boltfile.File
	db   *bolt.DB
	path string
}

// Open opens the store at path, creating it when missing. It fails with a LockedError while
// another process holds the file and with a DamagedError when the file is not sound.
func Open(path string) (*Store, error) {
	f, err := boltfile.Open(path, func(tx *bolt.Tx) error {
		for _, name := range buckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return checkSchemaTx(tx, path)
	})
	if err != nil {
		return nil, err
	}
	return &Store{file: f, db: f.DB, path: path}, nil
}

// Close closes the store.
func (s *Store) Close() error { return s.file.Close() }

// checkSchemaTx stamps a new file with the current schema version, migrates an older one and
// refuses a newer one.
func checkSchemaTx(tx *bolt.Tx, path string) error {
	meta := tx.Bucket(bucketMeta)
	raw := meta.Get(keySchemaVersion)
	if raw == nil {
		return meta.Put(keySchemaVersion, binary.BigEndian.AppendUint64(nil, schemaVersion))
	}
	if len(raw) != 8 {
		return &DamagedError{Path: path, Reason: fmt.Sprintf("schema version is %d bytes, not 8", len(raw))}
	}
	v := binary.BigEndian.Uint64(raw)
	if v > schemaVersion || v == 0 {
		return fmt.Errorf("%s has schema version %d, this palyrad reads version %d: %w", path, v, schemaVersion, ErrSchema)
	}
	if v == schemaVersion {
		return nil
	}
	for ; v < schemaVersion; v++ {
		if err := migrations[v](tx); err != nil {
			return fmt.Errorf("migrate %s from schema version %d: %w", path, v, err)
		}
	}
	return meta.Put(keySchemaVersion, binary.BigEndian.AppendUint64(nil, schemaVersion))
}

// update runs fn in a write transaction; see boltfile.File.Update.
func (s *Store) update(fn func(*bolt.Tx) error) error { return s.file.Update(fn) }
