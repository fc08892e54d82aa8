package tui

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/tui/cockpit"
	"github.com/palyra/palyra/tui/status"
)

const paletteHint = "start|stop|restart NAME|all · logs [NAME] · pair [qr] · quit · tab completes"

func (m model) updatePalette(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	switch {
	case key.Matches(msg, m.keys.Submit):
		line := m.palette.Value()
		m.palette.Blur()
		return m, m.runCommand(line)
	case key.Matches(msg, m.keys.Cancel):
		m.palette.Blur()
		return m, nil
	}
	var cmd tea.Cmd
	m.palette, cmd = m.palette.Update(msg)
	return m, cmd
}

// runCommand runs one palette line.
func (m *model) runCommand(line string) tea.Cmd {
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return nil
	}
	verb, args := fields[0], fields[1:]
	switch verb {
	case "start", "stop", "restart":
		if len(args) != 1 {
			return status.Error(fmt.Errorf("usage: %s NAME|all", verb))
		}
		if err := m.checkService(args[0], true); err != nil {
			return status.Error(err)
		}
		return m.cockpit.Run(cockpit.Verb(verb), args[0])
	case "logs":
		if len(args) > 1 {
			return status.Error(errors.New("usage: logs [NAME]"))
		}
		name := ""
		if len(args) == 1 && args[0] != "all" {
			name = args[0]
			if err := m.checkService(name, false); err != nil {
				return status.Error(err)
			}
		}
		return m.showLogs(name)
	case "pair":
		method := "pin"
		switch {
		case len(args) == 1 && args[0] == "qr":
			method = "qr"
		case len(args) > 0:
			return status.Error(errors.New("usage: pair [qr]"))
		}
		return tea.Batch(m.setFocus(paneInventory), m.inventory.Pair(method))
	case "quit", "q":
		return tea.Quit
	}
	return status.Error(fmt.Errorf("unknown command %q: try start, stop, restart, logs, pair or quit", verb))
}

// checkService rejects a name the last snapshot does not know, before asking the supervisor.
func (m model) checkService(name string, allowAll bool) error {
	if (allowAll && name == "all") || len(m.snap.Services) == 0 {
		return nil
	}
	for _, s := range m.snap.Services {
		if s.Name == name {
			return nil
		}
	}
	return fmt.Errorf("unknown service %q", name)
}

// suggestions are the palette's completions for the services in a snapshot.
func suggestions(services []supervisor.ServiceStatus) []string {
	names := []string{"all"}
	for _, s := range services {
		names = append(names, s.Name)
	}
	var out []string
	for _, verb := range []string{"start", "stop", "restart"} {
		for _, n := range names {
			out = append(out, verb+" "+n)
		}
	}
	for _, n := range names {
		out = append(out, "logs "+n)
	}
	return slices.Concat(out, []string{"pair", "pair qr", "quit"})
}
