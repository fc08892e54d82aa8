package inventory

import (
	"strconv"
	"strings"

	"charm.land/lipgloss/v2"

	"github.com/palyra/palyra/internal/textsafe"
	"github.com/palyra/palyra/tui/clock"
	"github.com/palyra/palyra/tui/grid"
	"github.com/palyra/palyra/tui/termtext"
)

const (
	// infoWidth is the narrowest the pairing facts beside the QR code may be.
	infoWidth = 36
	// commandFingerprint is how much of the CA fingerprint the node command carries:
	// palyra-node accepts a prefix of 32 hex characters (128 bits).
	commandFingerprint = 32
)

// glyphs draws the digits 0–9 three pixels wide and five high; each string is a row.
var glyphs = [10][5]string{
	{"###", "# #", "# #", "# #", "###"},
	{" # ", "## ", " # ", " # ", "###"},
	{"###", "  #", "###", "#  ", "###"},
	{"###", "  #", "###", "  #", "###"},
	{"# #", "# #", "###", "  #", "  #"},
	{"###", "#  ", "###", "  #", "###"},
	{"###", "#  ", "###", "# #", "###"},
	{"###", "  #", "  #", "  #", "  #"},
	{"###", "# #", "###", "# #", "###"},
	{"###", "# #", "###", "  #", "###"},
}

// bigDigits draws a PIN three lines high with half blocks, the digits spaced and split in
// two groups of three so it reads aloud easily; ok is false if the code is not all digits.
func bigDigits(code string) (lines []string, ok bool) {
	for _, r := range code {
		if r < '0' || r > '9' {
			return nil, false
		}
	}
	lines = make([]string, 3)
	for i, r := range code {
		sep := "  "
		if i == len(code)/2 {
			sep = "     "
		}
		g := glyphs[r-'0']
		for row := range 3 {
			if i > 0 {
				lines[row] += sep
			}
			for col := range 3 {
				top := g[2*row][col] == '#'
				bottom := 2*row+1 < 5 && g[2*row+1][col] == '#'
				switch {
				case top && bottom:
					lines[row] += "█"
				case top:
					lines[row] += "▀"
				case bottom:
					lines[row] += "▄"
				default:
					lines[row] += " "
				}
			}
		}
	}
	return lines, true
}

// codeEnv carries the code to palyra-node: in its environment, not its arguments, the code
// stays out of the node's process list.
const codeEnv = "PALYRA_PAIR_CODE"

// nodeCommand is the command to run on the node, broken into shell continuation lines of
// at most width cells where it can be; a flag whose value does not fit beside it gets a
// line of its own.
func nodeCommand(code, addr, fingerprint string, width int) []string {
	if len(fingerprint) > commandFingerprint {
		fingerprint = fingerprint[:commandFingerprint]
	}
	words := [][]string{{codeEnv + "=" + code}, {"palyra-node", "pair"}, {"--gateway", addr}}
	if fingerprint != "" {
		words = append(words, []string{"--ca-fingerprint", fingerprint})
	}
	const cont, indent = " \\", "  "
	var lines []string
	line := strings.Join(words[0], " ")
	for _, w := range words[1:] {
		joined := strings.Join(w, " ")
		if len(line)+1+len(joined)+len(cont) <= width {
			line += " " + joined
			continue
		}
		lines = append(lines, line+cont)
		if len(w) == 1 || len(indent)+len(joined)+len(cont) <= width {
			line = indent + joined
			continue
		}
		lines = append(lines, indent+w[0]+cont)
		line = indent + w[1]
	}
	return append(lines, line)
}

// commandWidth is the narrowest the node command can be drawn without cutting a word.
func commandWidth(code string) int {
	return max(len(codeEnv+"="+code)+len(" \\"), len("  --ca-fingerprint \\"), len("  ")+commandFingerprint)
}

// pairingView draws the minted code: the QR code on the left when it fits, the code in
// large digits and what the node needs on the right.
func (m Model) pairingView(h int) string {
	p := m.pairing
	r := p.reply
	code := textsafe.Clean(r.GetSecret())
	addr := textsafe.Clean(r.GetNodeAddr())
	fingerprint := textsafe.Clean(r.GetCaFingerprint())

	qrWidth := 0
	if len(p.qr) > 0 {
		qrWidth = termtext.Width(p.qr[0])
	}
	showQR := len(p.qr) > 0 && len(p.qr) <= h && qrWidth+len(grid.Gap)+max(infoWidth, commandWidth(code)) <= m.width
	width := m.width
	if showQR {
		width = min(m.width-qrWidth-len(grid.Gap), 2*infoWidth)
	}

	method := "PIN"
	if r.GetMethod() == "qr" {
		method = "QR token"
	}
	info := []string{m.styles.Overlay.Title.Render("Pairing code (" + method + ")"), ""}
	if digits, ok := bigDigits(code); ok {
		info = append(info, digits...)
		info = append(info, "", m.field("code", code[:len(code)/2]+" "+code[len(code)/2:]))
	} else {
		info = append(info, m.field("code", code))
	}
	expires := m.styles.Busy.Render("in " + clock.Countdown(p.expires, m.at))
	if !p.expires.After(m.at) {
		expires = m.styles.Bad.Render("expired — press p for a new code")
	}
	info = append(info, m.field("expires", expires), m.field("node addr", addr), m.field("CA", shortPrint(fingerprint)), "",
		m.styles.Muted.Render("On the node, run:"))
	for _, l := range nodeCommand(code, addr, fingerprint, width) {
		info = append(info, m.styles.Strong.Render(l))
	}
	info = append(info, "", m.styles.Muted.Render("Then approve it in 3 Approvals."))
	switch {
	case p.qrErr != "":
		info = append(info, m.styles.Bad.Render(p.qrErr))
	case len(p.qr) > 0 && !showQR:
		info = append(info, m.styles.Muted.Render("The QR code needs "+
			strconv.Itoa(qrWidth)+"×"+strconv.Itoa(len(p.qr))+" cells: enlarge the terminal to see it."))
	}
	info = append(info, m.styles.Muted.Render("esc closes"))
	// Padded to one width, the lines stay aligned when the block is centred.
	widest := 0
	for i, l := range info {
		info[i] = termtext.Truncate(l, width)
		widest = max(widest, termtext.Width(info[i]))
	}
	for i, l := range info {
		info[i] = termtext.Pad(l, widest)
	}

	block := strings.Join(info, "\n")
	if showQR {
		block = lipgloss.JoinHorizontal(lipgloss.Top, strings.Join(p.qr, "\n"), grid.Gap, block)
	}
	return lipgloss.Place(m.width, h, lipgloss.Center, lipgloss.Center, block)
}

func (m Model) field(label, value string) string {
	return m.styles.Muted.Render(termtext.Pad(label, 10)) + value
}
