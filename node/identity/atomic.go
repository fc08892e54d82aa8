package identity

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// writeAtomic writes data to dir/name through a temporary file (0600, fsynced) that then
// takes the name in one step, and fsyncs the directory so the new name survives a crash.
// With replace false an existing file is kept and the error is fs.ErrExist.
func writeAtomic(dir, name string, data []byte, replace bool) (err error) {
	final := filepath.Join(dir, name)
	tmp, err := os.CreateTemp(dir, "."+name+".tmp-*") // CreateTemp makes it 0600
	if err != nil {
		return fmt.Errorf("write %s: %w", final, err)
	}
	defer func() {
		// After a rename or link the temporary name is gone or redundant; on failure it
		// must not linger either way.
		if rmErr := os.Remove(tmp.Name()); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) && err == nil {
			err = fmt.Errorf("write %s: %w", final, rmErr)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", final, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", final, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", final, err)
	}
	if replace {
		err = os.Rename(tmp.Name(), final)
	} else {
		// A hard link fails if the name exists, so a key made by a racing process survives.
		err = os.Link(tmp.Name(), final)
	}
	if err != nil {
		var linkErr *os.LinkError
		if errors.As(err, &linkErr) && errors.Is(linkErr.Err, os.ErrExist) {
			return os.ErrExist
		}
		return fmt.Errorf("write %s: %w", final, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
