package capabilities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"strings"

	"github.com/palyra/palyra/internal/textsafe"
)

// MaxURL is the longest URL desktop.open_url opens.
const MaxURL = 2048

// opener runs desktop.open_url: {"url": "..."} → {"opened": "..."}, once the node's operator
// allows it.
type opener struct {
	mediator Mediator
	argv     []string
}

func (o opener) available() bool { return o.mediator != nil && lookPath(o.argv) }

func (o opener) run(ctx context.Context, input json.RawMessage, progress func(string)) (any, error) {
	var in struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal(input, &in); err != nil {
		return nil, errors.New(`input must be {"url": "https://…"}`)
	}
	target, err := CheckURL(in.URL)
	if err != nil {
		return nil, err
	}
	if o.mediator == nil || len(o.argv) == 0 {
		return nil, errors.New("this node cannot open URLs")
	}
	progress(AwaitingMediation)
	ok, err := o.mediator.Ask(ctx, fmt.Sprintf("Open %s for the gateway?", target))
	if err != nil {
		return nil, fmt.Errorf("not allowed on the node: %w", err)
	}
	if !ok {
		return nil, errors.New("denied on the node")
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, o.argv[0], append(o.argv[1:len(o.argv):len(o.argv)], target)...)
	cmd.Stderr = &limitedWriter{buf: &stderr, max: 512}
	if err := cmd.Run(); err != nil {
		msg := textsafe.Clean(strings.TrimSpace(stderr.String()))
		if msg != "" {
			return nil, fmt.Errorf("%s failed: %v: %s", o.argv[0], err, msg)
		}
		return nil, fmt.Errorf("%s failed: %v", o.argv[0], err)
	}
	return map[string]string{"opened": target}, nil
}

// CheckURL accepts only what a browser should open for a remote caller: an absolute http or
// https URL with a host, no user:password part, in printable ASCII (so what the operator is
// asked about is exactly what opens), at most MaxURL long. It returns the URL to open.
func CheckURL(raw string) (string, error) {
	if raw == "" {
		return "", errors.New(`input must be {"url": "https://…"}`)
	}
	if len(raw) > MaxURL {
		return "", fmt.Errorf("url longer than %d characters", MaxURL)
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] <= ' ' || raw[i] >= 0x7f {
			return "", errors.New("url must be printable ASCII without spaces (percent-encode the rest)")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("url does not parse")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", errors.New("only http and https URLs are opened")
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return "", errors.New("url has no host")
	}
	if u.User != nil {
		return "", errors.New("url must not carry a user name or password")
	}
	return u.String(), nil
}

// limitedWriter keeps the first max bytes written to it and drops the rest.
type limitedWriter struct {
	buf *bytes.Buffer
	max int
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if room := w.max - w.buf.Len(); room > 0 {
		w.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
