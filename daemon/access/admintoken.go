package access

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// AdminTokenFile is the admin token's file in the state directory.
const AdminTokenFile = "admin.token"

// LoadOrCreateAdminToken returns the admin token kept at path, creating it (0600) on first
// start. A file other users can read is refused rather than trusted: the token is the keys
// to the gateway, and the fix is the operator's call.
func LoadOrCreateAdminToken(path string) (string, error) {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return createAdminToken(path)
	case err != nil:
		return "", fmt.Errorf("admin token: %w", err)
	case info.Mode().Perm()&0o077 != 0:
		return "", fmt.Errorf("admin token %s is readable by others (mode %v); chmod 600 it, or delete it to have a new one made", path, info.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if len(token) < 32 {
		return "", fmt.Errorf("admin token %s is too short or empty; delete it to have a new one made", path)
	}
	return token, nil
}

func createAdminToken(path string) (string, error) {
	key := make([]byte, 32)
	rand.Read(key)
	token := "pa_" + base64.RawURLEncoding.EncodeToString(key)
	// O_EXCL: two starts racing never overwrite each other's token.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadOrCreateAdminToken(path)
	}
	if err != nil {
		return "", fmt.Errorf("create admin token: %w", err)
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return "", fmt.Errorf("write admin token: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("write admin token: %w", err)
	}
	return token, nil
}
