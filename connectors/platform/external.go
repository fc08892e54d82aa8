package platform

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/palyra/palyra/connectors/host"
	"github.com/palyra/palyra/connectors/outbox"
	"github.com/palyra/palyra/connectors/plugindir"
)

// PluginState is where a plugin executable stands with palyrad.
type PluginState string

const (
	PluginBuiltIn   PluginState = "built-in"  // served by palyrad's own executable
	PluginTrusted   PluginState = "trusted"   // pinned, and the file still has the pinned SHA-256
	PluginUntrusted PluginState = "untrusted" // in the directory, never pinned: not launched
	PluginChanged   PluginState = "changed"   // pinned, but the file is no longer what was pinned
	PluginMissing   PluginState = "missing"   // pinned, but the file is gone
	PluginUnsafe    PluginState = "unsafe"    // a file palyrad will not run (see Problem)
	PluginShadowed  PluginState = "shadowed"  // named like a built-in kind: ignored
)

// PluginFile is one connector plugin as the operator manages it.
type PluginFile struct {
	Kind    string
	State   PluginState
	Path    string
	SHA256  string     // what the file hashes to now; "" for a built-in or an unreadable file
	Pin     outbox.Pin // the pin, for a kind that has one (trusted, changed, missing, unsafe)
	Problem string
}

// ErrInUse refuses to forget a plugin that connectors still use.
var ErrInUse = errors.New("in use")

// Plugins lists the built-in kinds, the trusted external plugins and every plugin
// executable found in the plugin directory, by kind.
func (p *Platform) Plugins() ([]PluginFile, error) {
	pins, err := p.cfg.Store.Pins()
	if err != nil {
		return nil, err
	}
	files, err := plugindir.Scan(p.cfg.PluginDir)
	if p.cfg.PluginDir == "" {
		files, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("plugin directory %s: %w", p.cfg.PluginDir, err)
	}
	byKind := map[string]PluginFile{}
	for kind := range p.cfg.Plugins {
		byKind[kind] = PluginFile{Kind: kind, State: PluginBuiltIn}
	}
	for _, pin := range pins {
		switch {
		case byKind[pin.Kind].State == PluginBuiltIn:
			continue // pinned before palyrad built the kind in; the built-in one runs
		case !p.inDir(pin):
			byKind[pin.Kind] = PluginFile{Kind: pin.Kind, State: PluginMissing, Path: pin.Path, Pin: pin,
				Problem: fmt.Sprintf("pinned at %s, outside the plugin directory %s: not run; trust it again from there, or forget it: palyra-tui channels untrust %s", pin.Path, p.cfg.PluginDir, pin.Kind)}
		default:
			byKind[pin.Kind] = PluginFile{Kind: pin.Kind, State: PluginMissing, Path: pin.Path, Pin: pin,
				Problem: pin.Path + " is gone; put it back, or forget it: palyra-tui channels untrust " + pin.Kind}
		}
	}
	for _, f := range files {
		pf, known := byKind[f.Kind]
		if pf.State == PluginMissing && !p.inDir(pf.Pin) {
			known, pf = false, PluginFile{}
		}
		switch {
		case pf.State == PluginBuiltIn:
			byKind[f.Kind+" (file)"] = PluginFile{Kind: f.Kind, State: PluginShadowed, Path: f.Path, SHA256: f.SHA256,
				Problem: fmt.Sprintf("%q is a built-in kind; the file is not used", f.Kind)}
			continue
		case f.Problem != "":
			pf = PluginFile{Kind: f.Kind, State: PluginUnsafe, Path: f.Path, Pin: pf.Pin, Problem: f.Problem}
		case !known:
			pf = PluginFile{Kind: f.Kind, State: PluginUntrusted, Path: f.Path, SHA256: f.SHA256,
				Problem: "not launched until trusted: palyra-tui channels trust " + f.Kind + " --sha256 " + f.SHA256}
		case f.SHA256 == pf.Pin.SHA256:
			pf.State, pf.SHA256, pf.Problem = PluginTrusted, f.SHA256, ""
		default:
			pf.State, pf.SHA256 = PluginChanged, f.SHA256
			pf.Problem = fmt.Sprintf("changed since it was trusted (SHA-256 %s, pinned %s): not launched; trust it again if the change is yours", short(f.SHA256), short(pf.Pin.SHA256))
		}
		byKind[f.Kind] = pf
	}
	out := slices.Collect(maps.Values(byKind))
	slices.SortFunc(out, func(a, b PluginFile) int {
		return strings.Compare(a.Kind+string(a.State), b.Kind+string(b.State))
	})
	return out, nil
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12] + "…"
	}
	return sum
}

// Trust pins the plugin executable of kind in the plugin directory at the SHA-256 it has
// now, which must be want when want is given, and starts the connectors of that kind.
// Trusting a kind again, after its file changed on purpose, replaces its pin and restarts
// its plugin.
func (p *Platform) Trust(ctx context.Context, kind, want, by string) (PluginFile, error) {
	p.trustMu.Lock()
	defer p.trustMu.Unlock()
	if _, builtIn := p.cfg.Plugins[kind]; builtIn {
		return PluginFile{}, fmt.Errorf("%w: %q is a built-in kind", ErrInvalid, kind)
	}
	if p.cfg.PluginDir == "" {
		return PluginFile{}, fmt.Errorf("%w: palyrad has no plugin directory", ErrInvalid)
	}
	f, err := plugindir.Find(p.cfg.PluginDir, kind)
	if err != nil {
		return PluginFile{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if f.Problem != "" {
		return PluginFile{}, fmt.Errorf("%w: %s: %s", ErrInvalid, f.Path, f.Problem)
	}
	want = strings.ToLower(strings.TrimSpace(want))
	if _, err := hex.DecodeString(want); err != nil || (want != "" && len(want) != 64) {
		return PluginFile{}, fmt.Errorf("%w: --sha256 %q: want the 64 hex digits of a SHA-256", ErrInvalid, want)
	}
	if want != "" && want != f.SHA256 {
		return PluginFile{}, fmt.Errorf("%w: %s has SHA-256 %s, not the %s given: it is not the file you meant", ErrInvalid, f.Path, f.SHA256, want)
	}
	pin := outbox.Pin{Kind: kind, Path: f.Path, SHA256: f.SHA256, By: by, PinnedAt: p.now()}
	unchanged := p.pinned(kind, f.Path, f.SHA256)
	if err := p.cfg.Store.PutPin(ctx, pin); err != nil {
		return PluginFile{}, err
	}
	if !unchanged { // the same file trusted again: its plugin and connectors run on
		p.install(pin)
		p.reactivate(ctx, kind)
	}
	return PluginFile{Kind: kind, State: PluginTrusted, Path: f.Path, SHA256: f.SHA256, Pin: pin}, nil
}

// pinned reports whether kind's installed plugin was made from this very pin.
func (p *Platform) pinned(kind, path, sum string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	pin, ok := p.pins[kind]
	return ok && pin.Path == path && pin.SHA256 == sum
}

// inDir reports whether a pin names the executable of its kind in the plugin directory.
func (p *Platform) inDir(pin outbox.Pin) bool {
	return p.cfg.PluginDir != "" && pin.Path == filepath.Join(p.cfg.PluginDir, plugindir.Prefix+pin.Kind)
}

// Untrust forgets the pin of an external kind and stops its plugin. Connectors of the kind
// must be removed first.
func (p *Platform) Untrust(ctx context.Context, kind string) error {
	p.trustMu.Lock()
	defer p.trustMu.Unlock()
	if _, builtIn := p.cfg.Plugins[kind]; builtIn {
		// Only a pin left from before the kind was built in can be forgotten.
		return p.cfg.Store.RemovePin(ctx, kind)
	}
	// Take the kind away first, so no connector of it can be added meanwhile.
	p.mu.Lock()
	plug, had := p.plugins[kind]
	delete(p.plugins, kind)
	p.mu.Unlock()
	putBack := func() {
		if had {
			p.mu.Lock()
			p.plugins[kind] = plug
			p.mu.Unlock()
		}
	}
	insts, err := p.cfg.Store.Instances()
	if err != nil {
		putBack()
		return err
	}
	var using []string
	for _, in := range insts {
		if in.Kind == kind {
			using = append(using, in.ID)
		}
	}
	if len(using) > 0 {
		putBack()
		return fmt.Errorf("%w: connectors of kind %s remain (%s); remove them first", ErrInUse, kind, strings.Join(using, ", "))
	}
	if err := p.cfg.Store.RemovePin(ctx, kind); err != nil {
		putBack()
		return err
	}
	p.mu.Lock()
	p.stopPluginLocked(kind)
	delete(p.pins, kind)
	p.mu.Unlock()
	return nil
}

// loadPins installs the plugins trusted before; each launch checks the file again.
func (p *Platform) loadPins() error {
	pins, err := p.cfg.Store.Pins()
	if err != nil {
		return err
	}
	for _, pin := range pins {
		if _, builtIn := p.cfg.Plugins[pin.Kind]; !builtIn && p.inDir(pin) {
			p.install(pin)
		}
	}
	return nil
}

// install makes the Plugin of a pin, replacing (and stopping) the kind's previous one.
func (p *Platform) install(pin outbox.Pin) {
	sum, _ := hex.DecodeString(pin.SHA256)
	dir := p.cfg.PluginDir
	spec := host.Spec{Kind: pin.Kind, Path: pin.Path, Checksum: sum,
		Check: func() error { return plugindir.Check(dir, pin.Kind) }}
	var plug Plugin
	if p.cfg.Launch != nil {
		plug = p.cfg.Launch(spec)
	} else {
		plug = host.New(spec, host.Options{Logger: p.cfg.Logger})
	}
	p.mu.Lock()
	p.stopPluginLocked(pin.Kind)
	p.plugins[pin.Kind] = plug
	p.pins[pin.Kind] = pin
	p.mu.Unlock()
}

// stopPluginLocked ends a kind's running plugin and forgets its description; p.mu must be
// held.
func (p *Platform) stopPluginLocked(kind string) {
	if stop := p.running[kind]; stop != nil {
		stop()
		delete(p.running, kind)
	}
	delete(p.kinds, kind)
}

// reactivate starts the stored connectors of kind again in the kind's current plugin.
func (p *Platform) reactivate(ctx context.Context, kind string) {
	insts, err := p.cfg.Store.Instances()
	if err != nil {
		p.cfg.Logger.Warn("connectors of a newly trusted plugin", "kind", kind, "err", err)
		return
	}
	for _, in := range insts {
		if in.Kind == kind {
			p.activate(p.context(ctx), in)
		}
	}
}

// PluginDir is where external plugins are looked for; "" for nowhere.
func (p *Platform) PluginDir() string { return p.cfg.PluginDir }
