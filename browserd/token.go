package browserd

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// TokenFile is the browser API's bearer token in the state directory. palyrad reads the same
// file to call palyra-browserd.
const TokenFile = "browserd.token"

// LoadOrCreateToken returns the token kept at path, creating it (0600, 32 random bytes as
// hex) on first start. A file other users can read is refused rather than trusted.
func LoadOrCreateToken(path string) (string, error) {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return createToken(path)
	case err != nil:
		return "", fmt.Errorf("browserd token: %w", err)
	case !info.Mode().IsRegular():
		return "", fmt.Errorf("browserd token %s is not a regular file", path)
	case info.Mode().Perm()&0o077 != 0:
		return "", fmt.Errorf("browserd token %s is readable by others (mode %v); chmod 600 it, or delete it to have a new one made", path, info.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("browserd token: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if len(token) < 32 {
		return "", fmt.Errorf("browserd token %s is too short or empty; delete it to have a new one made", path)
	}
	return token, nil
}

func createToken(path string) (string, error) {
	key := make([]byte, 32)
	rand.Read(key)
	token := hex.EncodeToString(key)
	// O_EXCL: two starts racing never overwrite each other's token.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadOrCreateToken(path)
	}
	if err != nil {
		return "", fmt.Errorf("create browserd token: %w", err)
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return "", fmt.Errorf("write browserd token: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("write browserd token: %w", err)
	}
	return token, nil
}

// tokenMatches compares in constant time (for tokens of the same length, which every valid
// one is).
func tokenMatches(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
