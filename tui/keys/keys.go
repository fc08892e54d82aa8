// Package keys holds the TUI's one key map. Panes match keys with key.Matches against these
// bindings and list them in their help, so rebinding a key changes both at once.
package keys

import "charm.land/bubbles/v2/key"

// KeyMap is every binding of the TUI, grouped by where it applies.
type KeyMap struct {
	// Global keys, handled by the root model before the focused pane sees a key.
	Quit      key.Binding
	ForceQuit key.Binding // works even while a text input has focus
	Help      key.Binding
	Palette   key.Binding
	NextPane  key.Binding
	PrevPane  key.Binding
	Cockpit   key.Binding
	Inventory key.Binding
	Approvals key.Binding
	Channels  key.Binding
	Logs      key.Binding
	Back      key.Binding

	// Movement in lists and the log view.
	Up       key.Binding
	Down     key.Binding
	PageUp   key.Binding
	PageDown key.Binding
	Top      key.Binding
	Bottom   key.Binding

	// Cockpit verbs on the selected service.
	Start    key.Binding
	Stop     key.Binding
	Restart  key.Binding
	ShowLogs key.Binding
	Detail   key.Binding
	Confirm  key.Binding
	Deny     key.Binding

	// Inventory pane. Filter, Detail, Confirm and Deny are shared with the other panes.
	SortNext         key.Binding
	SortReverse      key.Binding
	Revoke           key.Binding
	Remove           key.Binding
	Invoke           key.Binding
	ToggleCapability key.Binding
	PairPIN          key.Binding
	PairQR           key.Binding

	// Approvals pane.
	AllowOnce    key.Binding
	AllowSession key.Binding
	AllowFor     key.Binding
	DenyRequest  key.Binding
	History      key.Binding

	// Channels pane.
	AddConnector     key.Binding
	PauseResume      key.Binding
	Drain            key.Binding
	TestSend         key.Binding
	Replay           key.Binding
	Discard          key.Binding
	EnableDisable    key.Binding
	RestartConnector key.Binding
	RemoveConnector  key.Binding
	SetSecret        key.Binding
	NextField        key.Binding

	// Logs pane.
	CycleService key.Binding
	ToggleTime   key.Binding
	Filter       key.Binding
	NextMatch    key.Binding
	PrevMatch    key.Binding
	Wrap         key.Binding
	Save         key.Binding
	Follow       key.Binding

	// Text inputs (filter, command palette).
	Submit key.Binding
	Cancel key.Binding
}

// Default returns the standard bindings.
func Default() KeyMap {
	return KeyMap{
		Quit:      key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit (services keep running)")),
		ForceQuit: key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit")),
		Help:      key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Palette:   key.NewBinding(key.WithKeys(":"), key.WithHelp(":", "command")),
		NextPane:  key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next pane")),
		PrevPane:  key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous pane")),
		Cockpit:   key.NewBinding(key.WithKeys("1"), key.WithHelp("1", "cockpit")),
		Inventory: key.NewBinding(key.WithKeys("2"), key.WithHelp("2", "inventory")),
		Approvals: key.NewBinding(key.WithKeys("3"), key.WithHelp("3", "approvals")),
		Channels:  key.NewBinding(key.WithKeys("4"), key.WithHelp("4", "channels")),
		Logs:      key.NewBinding(key.WithKeys("5"), key.WithHelp("5", "logs")),
		Back:      key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),

		Up:       key.NewBinding(key.WithKeys("k", "up"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("j", "down"), key.WithHelp("↓/j", "down")),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "ctrl+u"), key.WithHelp("pgup", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown", "ctrl+d"), key.WithHelp("pgdn", "page down")),
		Top:      key.NewBinding(key.WithKeys("g", "home"), key.WithHelp("g/home", "top")),
		Bottom:   key.NewBinding(key.WithKeys("G", "end"), key.WithHelp("G/end", "bottom")),

		Start:    key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "start")),
		Stop:     key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "stop")),
		Restart:  key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "restart")),
		ShowLogs: key.NewBinding(key.WithKeys("l"), key.WithHelp("l", "logs")),
		Detail:   key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "detail")),
		Confirm:  key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "yes")),
		Deny:     key.NewBinding(key.WithKeys("n", "esc"), key.WithHelp("n/esc", "no")),

		SortNext:         key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "sort")),
		SortReverse:      key.NewBinding(key.WithKeys("S"), key.WithHelp("S", "reverse sort")),
		Revoke:           key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "revoke")),
		Remove:           key.NewBinding(key.WithKeys("D"), key.WithHelp("D", "remove")),
		Invoke:           key.NewBinding(key.WithKeys("i"), key.WithHelp("i", "invoke")),
		ToggleCapability: key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "capability on/off")),
		PairPIN:          key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "pair (PIN)")),
		PairQR:           key.NewBinding(key.WithKeys("P"), key.WithHelp("P", "pair (QR token)")),

		AllowOnce:    key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "allow once")),
		AllowSession: key.NewBinding(key.WithKeys("A"), key.WithHelp("A", "allow session")),
		AllowFor:     key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "allow for…")),
		DenyRequest:  key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "deny")),
		History:      key.NewBinding(key.WithKeys("h"), key.WithHelp("h", "history")),

		AddConnector:     key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "add")),
		PauseResume:      key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "pause/resume")),
		Drain:            key.NewBinding(key.WithKeys("D"), key.WithHelp("D", "drain")),
		TestSend:         key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "test send")),
		Replay:           key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "replay")),
		Discard:          key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "discard")),
		EnableDisable:    key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "enable/disable")),
		RestartConnector: key.NewBinding(key.WithKeys("R"), key.WithHelp("R", "restart plugin")),
		RemoveConnector:  key.NewBinding(key.WithKeys("X"), key.WithHelp("X", "remove")),
		SetSecret:        key.NewBinding(key.WithKeys("S"), key.WithHelp("S", "set secret")),
		NextField:        key.NewBinding(key.WithKeys("tab", "down"), key.WithHelp("tab", "next field")),

		CycleService: key.NewBinding(key.WithKeys("v"), key.WithHelp("v", "service")),
		ToggleTime:   key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "timestamps")),
		Filter:       key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		NextMatch:    key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "next match")),
		PrevMatch:    key.NewBinding(key.WithKeys("N"), key.WithHelp("N", "previous match")),
		Wrap:         key.NewBinding(key.WithKeys("w"), key.WithHelp("w", "wrap")),
		Save:         key.NewBinding(key.WithKeys("ctrl+s"), key.WithHelp("ctrl+s", "save")),
		Follow:       key.NewBinding(key.WithKeys("G", "end"), key.WithHelp("G/end", "follow")),

		Submit: key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "apply")),
		Cancel: key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel")),
	}
}

// Globals are the bindings shown in every pane's help.
func (k KeyMap) Globals() []key.Binding {
	return []key.Binding{k.Cockpit, k.Inventory, k.Approvals, k.Channels, k.Logs, k.NextPane, k.PrevPane, k.Palette, k.Help, k.Back, k.Quit}
}
