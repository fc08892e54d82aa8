package channels

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/palyra/palyra/internal/textsafe"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
	"github.com/palyra/palyra/tui/gateway"
	"github.com/palyra/palyra/tui/status"
	"github.com/palyra/palyra/tui/theme"
)

type formKind int

const (
	formAdd formKind = iota + 1
	formSecret
	formSend
)

// maxSecretBytes is the store's bound on a secret's value (connectors.MaxCredentialBytes).
const maxSecretBytes = 8 << 10

// field is one line of a form.
type field struct {
	label    string
	help     string
	setting  string // the config key it fills; "" for the form's own fields
	typ      string // string, int, bool or secret
	required bool
	def      string
	secretOf int // for a masked secret value: the index of the field naming the secret; -1
	input    textinput.Model
}

// form asks for one field at a time, Enter moving on; it is built from a kind's settings.
type form struct {
	kind   formKind
	title  string
	target string // formSend: the connector
	kinds  []*palyrav1.ConnectorKind
	fields []field
	at     int
	styles theme.Styles
}

func newField(label, help, def string, st theme.Styles) field {
	in := textinput.New()
	in.Prompt = ""
	in.Placeholder = def
	in.SetStyles(st.Input)
	in.SetWidth(48)
	in.CharLimit = 1024
	return field{label: label, help: help, def: def, secretOf: -1, input: in}
}

func newAddForm(kinds []*palyrav1.ConnectorKind, st theme.Styles) form {
	var names []string
	for _, k := range kinds {
		if k.GetError() == "" {
			names = append(names, textsafe.Clean(k.GetKind()))
		}
	}
	kind := newField("kind", "one of: "+strings.Join(names, ", "), "", st)
	kind.required = true
	kind.input.ShowSuggestions = true
	kind.input.SetSuggestions(names)
	if len(names) == 1 {
		kind.def = names[0]
		kind.input.Placeholder = names[0]
	}
	name := newField("name", "the connector's name: its id becomes KIND:NAME", "", st)
	name.required = true
	return form{kind: formAdd, title: "Add a connector", kinds: kinds, fields: []field{kind, name}, styles: st}
}

func newSecretForm(st theme.Styles) form {
	name := newField("name", "lower case, digits, . _ -; connectors name it in a secret setting", "", st)
	name.required = true
	value := newField("value", "typed hidden; stored encrypted, shown back only as a fingerprint", "", st)
	value.required, value.typ = true, secretType
	value.input.EchoMode = textinput.EchoPassword
	value.input.CharLimit = maxSecretBytes
	return form{kind: formSecret, title: "Set a secret", fields: []field{name, value}, styles: st}
}

func newSendForm(id string, st theme.Styles) form {
	conv := newField("conversation", "the channel or conversation id to send to", TestConversation, st)
	text := newField("text", "the message", "test message from palyra-tui", st)
	text.input.CharLimit = 4000
	return form{kind: formSend, title: "Test send through " + textsafe.Clean(id), target: id, fields: []field{conv, text}, styles: st}
}

func (f *form) setStyles(st theme.Styles) {
	f.styles = st
	for i := range f.fields {
		f.fields[i].input.SetStyles(st.Input)
	}
}

func (f *form) focus() tea.Cmd {
	for i := range f.fields {
		f.fields[i].input.Blur()
	}
	return f.fields[f.at].input.Focus()
}

func (f form) update(msg tea.Msg) (form, tea.Cmd) {
	var cmd tea.Cmd
	f.fields[f.at].input, cmd = f.fields[f.at].input.Update(msg)
	return f, cmd
}

// value is what field i holds: what was typed, else its default.
func (f form) value(i int) string {
	v := f.fields[i].input.Value()
	if f.fields[i].typ != secretType {
		v = strings.TrimSpace(v)
	}
	if v == "" {
		return f.fields[i].def
	}
	return v
}

// next checks the current field and moves on; done once the last field is filled.
func (f *form) next() (done bool, err error) {
	fd := f.fields[f.at]
	v := f.value(f.at)
	if fd.required && v == "" {
		return false, fmt.Errorf("%s is required: type it, or esc to cancel", fd.label)
	}
	switch fd.typ {
	case "int":
		if _, err := strconv.Atoi(v); v != "" && err != nil {
			return false, fmt.Errorf("%s: %q is not a whole number", fd.label, textsafe.Clean(v))
		}
	case "bool":
		if v != "" && v != "true" && v != "false" {
			return false, fmt.Errorf("%s: type true or false", fd.label)
		}
	}
	if f.kind == formAdd && f.at == 0 {
		k := f.kindNamed(v)
		if k == nil {
			return false, fmt.Errorf("no connector kind %q: %s", textsafe.Clean(v), fd.help)
		}
		f.fields = append(f.fields[:2:2], settingFields(k, f.styles)...)
	}
	if f.at == len(f.fields)-1 {
		return true, nil
	}
	f.at++
	return false, nil
}

func (f form) kindNamed(name string) *palyrav1.ConnectorKind {
	i := slices.IndexFunc(f.kinds, func(k *palyrav1.ConnectorKind) bool { return k.GetKind() == name && k.GetError() == "" })
	if i < 0 {
		return nil
	}
	return f.kinds[i]
}

// settingFields are a kind's settings as fields; a secret setting is followed by a masked
// field that stores the secret's value with the connector, if typed.
func settingFields(k *palyrav1.ConnectorKind, st theme.Styles) []field {
	var out []field
	for _, s := range k.GetSettings() {
		label := textsafe.Clean(s.GetLabel())
		if label == "" {
			label = textsafe.Clean(s.GetName())
		}
		fd := newField(label, textsafe.Clean(s.GetHelp()), textsafe.Clean(s.GetDefault()), st)
		fd.setting, fd.typ, fd.required = s.GetName(), s.GetType(), s.GetRequired()
		if fd.typ == secretType {
			fd.help = "the name of a secret in palyrad's store" + cut(fd.help)
			if fd.def == "" {
				fd.def = k.GetKind() + "-" + s.GetName()
				fd.input.Placeholder = fd.def
			}
			fd.typ = "string"
			out = append(out, fd)
			value := newField(label+" value", "typed hidden and stored as that secret; empty keeps the one stored", "", st)
			value.typ, value.secretOf = secretType, len(out)+1 // +1: after kind and name come the settings
			value.input.EchoMode = textinput.EchoPassword
			value.input.CharLimit = maxSecretBytes
			out = append(out, value)
			continue
		}
		out = append(out, fd)
	}
	return out
}

func cut(help string) string {
	if help == "" {
		return ""
	}
	return ": " + help
}

// submit sends what the form holds.
func (f form) submit(api gateway.Channels) tea.Cmd {
	switch f.kind {
	case formSecret:
		name, value := f.value(0), []byte(f.value(1))
		return call(func(ctx context.Context) (string, error) {
			s, err := api.SetSecret(ctx, name, value)
			if err != nil {
				return "", err
			}
			return "secret " + textsafe.Clean(s.GetName()) + " set, fingerprint " + textsafe.Clean(s.GetFingerprint()), nil
		}, "set secret "+textsafe.Clean(name))
	case formSend:
		id, conv, text := f.target, f.value(0), f.value(1)
		return call(func(ctx context.Context) (string, error) {
			queued, err := api.Send(ctx, id, conv, text)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("queued %d message(s) to %s on %s", len(queued), textsafe.Clean(conv), textsafe.Clean(id)), nil
		}, "send through "+textsafe.Clean(id))
	}
	id := f.value(0) + ":" + f.value(1)
	config := map[string]string{}
	secrets := map[string][]byte{}
	for i := 2; i < len(f.fields); i++ {
		fd, v := f.fields[i], f.value(i)
		switch {
		case fd.secretOf >= 0 && v != "":
			secrets[f.value(fd.secretOf)] = []byte(v)
		case fd.setting != "" && v != "":
			config[fd.setting] = v
		}
	}
	return call(func(ctx context.Context) (string, error) {
		for name, value := range secrets {
			if _, err := api.SetSecret(ctx, name, value); err != nil {
				return "", fmt.Errorf("secret %s: %w", name, err)
			}
		}
		c, err := api.Add(ctx, id, config)
		if err != nil {
			return "", err
		}
		return "added " + textsafe.Clean(c.GetId()) + ": " + textsafe.Clean(c.GetReadiness()), nil
	}, "add "+textsafe.Clean(id))
}

// call runs fn off the UI loop and turns its result into a notice.
func call(fn func(ctx context.Context) (string, error), what string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		notice, err := fn(ctx)
		if err != nil {
			return status.ErrorMsg(fmt.Errorf("%s: %s", what, gateway.Explain(err)))
		}
		return doneMsg{notice: notice, reload: true}
	}
}
