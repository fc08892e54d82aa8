package discord_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/palyra/palyra/connectors/conformance"
	"github.com/palyra/palyra/connectors/host"
	"github.com/palyra/palyra/connectors/platform"
	"github.com/palyra/palyra/connectors/plugin"
	"github.com/palyra/palyra/connectors/providers/discord"
	"github.com/palyra/palyra/connectors/providers/discord/discordtest"
)

// The test binary doubles as the plugin: run with these arguments it serves the provider
// instead of running tests.
const pluginArg = "serve-test-connector"

func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == pluginArg && os.Args[2] == discord.Kind {
		plugin.Serve(discord.New(testOptions()))
		return
	}
	os.Exit(m.Run())
}

func testOptions() discord.Options {
	return discord.Options{Version: "test", ReconnectBase: 5 * time.Millisecond, ReconnectMax: 50 * time.Millisecond}
}

func TestConformance(t *testing.T) {
	s := discordtest.New(t, discordtest.Options{})
	p := discord.New(testOptions())
	t.Cleanup(func() { stopAll(p) })
	conformance.Run(t, discordtest.Harness(platform.InProcess(discord.Kind, p), s))
}

// The conformance suite with the provider in a plugin process of its own (this test binary,
// see TestMain), every call crossing go-plugin, the fake Discord in this process.
func TestConformanceThroughAPluginProcess(t *testing.T) {
	s := discordtest.New(t, discordtest.Options{})
	p := host.New(host.Spec{Kind: discord.Kind, Path: os.Args[0], Args: []string{pluginArg, discord.Kind}}, host.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	conformance.Run(t, discordtest.Harness(p, s))
}

func stopAll(p *discord.Provider) {
	for _, id := range p.Instances() {
		p.Stop(context.Background(), id)
	}
}
