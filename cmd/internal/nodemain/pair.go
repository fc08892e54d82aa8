package nodemain

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/palyra/palyra/node/host"
	"github.com/palyra/palyra/node/identity"
	"github.com/palyra/palyra/node/paircode"
)

// CodeEnv names the environment variable that can carry the pairing code, so it need not
// appear in the process's arguments.
const CodeEnv = "PALYRA_PAIR_CODE"

// maxName bounds the node's name.
const maxName = 64

func pair(args []string) int {
	fs := flag.NewFlagSet("palyra-node pair", flag.ContinueOnError)
	home := homeFlag(fs)
	code := fs.String("code", "", "the pairing code or palyra://pair URI from palyra-tui; - reads it from stdin (env "+CodeEnv+")")
	gateway := fs.String("gateway", "", "the gateway's node API address, host:port (default: the one in a pairing URI)")
	hostname, _ := os.Hostname()
	name := fs.String("name", hostname, "how the operator sees this node")
	caFingerprint := fs.String("ca-fingerprint", "", "SHA-256 of the gateway CA as palyra-tui shows it (64 hex digits, or at least the first 32);\nwithout it the CA is trusted on first use")
	wait := fs.Duration("wait", 0, "give up waiting for the operator's decision after this long (0: until the request expires)")
	if code := parse(fs, args); code >= 0 {
		return code
	}

	secret := *code
	if secret == "" {
		secret = os.Getenv(CodeEnv)
	}
	if secret == "-" {
		var err error
		if secret, err = readCode(os.Stdin); err != nil {
			return usageError(fs, "%v", err)
		}
	}
	if secret == "" {
		return usageError(fs, "no pairing code: pass --code CODE, --code - to read it from stdin, or set %s", CodeEnv)
	}
	parsed, err := paircode.Parse(secret)
	if err != nil {
		return usageError(fs, "%v", err)
	}
	cfg := host.PairConfig{Gateway: *gateway, Code: parsed.Secret, Name: strings.TrimSpace(*name), Wait: *wait, Out: os.Stdout}
	if cfg.Gateway == "" {
		cfg.Gateway = parsed.Gateway
	}
	if cfg.Gateway == "" {
		return usageError(fs, "no gateway: pass --gateway HOST:PORT (the node address palyra-tui shows) or a palyra://pair URI as the code")
	}
	if _, _, err := net.SplitHostPort(cfg.Gateway); err != nil {
		return usageError(fs, "--gateway %q is not host:port", cfg.Gateway)
	}
	if parsed.CAFingerprint != "" {
		cfg.CAFingerprints = append(cfg.CAFingerprints, parsed.CAFingerprint)
	}
	if *caFingerprint != "" {
		fp, err := paircode.NormalizeFingerprint(*caFingerprint)
		if err != nil {
			return usageError(fs, "--ca-fingerprint: %v", err)
		}
		cfg.CAFingerprints = append(cfg.CAFingerprints, fp)
	}
	if cfg.Name == "" || len(cfg.Name) > maxName {
		return usageError(fs, "--name must be 1 to %d bytes", maxName)
	}

	ctx, stop := signalContext()
	defer stop()
	lock, err := lockHome(*home)
	if err != nil {
		return failure(ctx, os.Stderr, fs.Name(), err)
	}
	defer lock.Release()
	if _, err := host.Pair(ctx, identity.At(*home), cfg); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(os.Stderr, "%s: interrupted; this node is not paired\n", fs.Name())
			return exitInterrupted
		}
		return failure(ctx, os.Stderr, fs.Name(), err)
	}
	return exitOK
}

// readCode reads the code from the first line of r.
func readCode(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the pairing code from stdin: %w", err)
	}
	if line = strings.TrimSpace(line); line == "" {
		return "", errors.New("no pairing code on stdin")
	}
	return line, nil
}
