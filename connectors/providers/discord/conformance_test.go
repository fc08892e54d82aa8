package discord_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/palyra/palyra/connectors"
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
	conformance.Run(t, discordtest.Harness(newestReader(ctx, p), s))
}

// newestReader hands the plugin's events only to the newest Events caller. platform.Add can
// start its event reader under context.Background() when it runs before Platform.Run has
// recorded its context (as conformance's setUp does), so a platform of an earlier scenario
// keeps reading the plugin's one channel and takes events meant for the next.
func newestReader(ctx context.Context, plug platform.Plugin) platform.Plugin {
	return &newest{Plugin: plug, ctx: ctx}
}

type newest struct {
	platform.Plugin
	ctx  context.Context
	once sync.Once
	mu   sync.Mutex
	out  chan connectors.Event
}

func (n *newest) Events(ctx context.Context) (<-chan connectors.Event, error) {
	src, err := n.Plugin.Events(ctx)
	if err != nil {
		return nil, err
	}
	out := make(chan connectors.Event, 512)
	n.mu.Lock()
	n.out = out
	n.mu.Unlock()
	n.once.Do(func() {
		go func() {
			for {
				select {
				case <-n.ctx.Done():
					return
				case e := <-src:
					n.mu.Lock()
					to := n.out
					n.mu.Unlock()
					select {
					case to <- e:
					case <-n.ctx.Done():
						return
					}
				}
			}
		}()
	})
	return out, nil
}

func stopAll(p *discord.Provider) {
	for _, id := range p.Instances() {
		p.Stop(context.Background(), id)
	}
}
