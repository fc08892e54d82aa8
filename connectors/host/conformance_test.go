package host_test

import (
	"context"
	"os"
	"testing"

	"github.com/palyra/palyra/connectors/conformance"
	"github.com/palyra/palyra/connectors/host"
	"github.com/palyra/palyra/connectors/providers/echo"
	"github.com/palyra/palyra/connectors/providers/echo/echotest"
)

// The conformance suite with Echo in a plugin process of its own (this test binary, see
// TestMain), every call crossing go-plugin.
// It runs twice: with Echo's SendBatch, and with a plugin that implements only Send (the
// platform then sends each message with Send).
func TestConformanceThroughAPluginProcess(t *testing.T) {
	for _, mode := range []string{"echo", "unbatched"} {
		t.Run(mode, func(t *testing.T) {
			p := host.New(host.Spec{Kind: echo.Kind, Path: os.Args[0], Args: []string{"serve-test-connector", mode}}, host.Options{})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { p.Run(ctx); close(done) }()
			t.Cleanup(func() { cancel(); <-done })
			conformance.Run(t, echotest.Harness(p))
		})
	}
}
