// Package grid is the list drawing every pane shares: which rows of a long list are in
// view, which columns fit a width (the most important first), and the header and rows drawn
// with the selection marked.
package grid

import (
	"slices"
	"strings"

	"charm.land/lipgloss/v2"

	"github.com/palyra/palyra/tui/termtext"
)

// Selector marks the selected row; unselected rows are indented by as much.
const (
	Selector      = "▸ "
	SelectorWidth = 2
	Gap           = "  "
)

// Window returns the rows [first, last) of n that fit in room, keeping sel visible.
func Window(n, sel, room int) (first, last int) {
	if n <= room {
		return 0, n
	}
	first = min(max(sel-room/2, 0), n-room)
	return first, first + room
}

// Scroll returns the h lines from offset, clamped so the view stays full.
func Scroll(lines []string, offset, h int) []string {
	if h <= 0 || len(lines) <= h {
		return lines
	}
	offset = min(max(offset, 0), len(lines)-h)
	return lines[offset : offset+h]
}

// ClampOffset keeps a scroll offset within lines of n shown h at a time.
func ClampOffset(offset, n, h int) int {
	return min(max(offset, 0), max(n-h, 0))
}

// Fit keeps the columns that fit in width, the highest priority first (the first always
// stays), and returns their indexes in table order and the width they use, selector
// included.
func Fit(widths, priorities []int, width int) (shown []int, used int) {
	byPriority := make([]int, len(widths))
	for c := range widths {
		byPriority[c] = c
	}
	slices.SortStableFunc(byPriority, func(a, b int) int { return priorities[b] - priorities[a] })
	used = SelectorWidth - len(Gap)
	keep := make([]bool, len(widths))
	for n, c := range byPriority {
		if n == 0 || used+len(Gap)+widths[c] <= width {
			keep[c] = true
			used += len(Gap) + widths[c]
		}
	}
	for c := range widths {
		if keep[c] {
			shown = append(shown, c)
		}
	}
	return shown, used
}

// Cell is one cell's text and the style that gives it meaning (not used on the selected
// row, which has a style of its own).
type Cell struct {
	Text  string
	Style lipgloss.Style
}

// Column is one column of a Table.
type Column struct {
	Title    string
	Priority int // columns are dropped lowest first when the width is short
	Max      int // widest the column grows; 0: as wide as its widest cell
}

// Table is a list to draw: its columns, every row's cells, and the selected row.
type Table struct {
	Columns  []Column
	Rows     [][]Cell
	Selected int
	Header   lipgloss.Style
	Picked   lipgloss.Style // the selected row
}

// Lines draws the header and the rows that fit in room lines (header included) at width.
func (t Table) Lines(width, room int) []string {
	widths := make([]int, len(t.Columns))
	priorities := make([]int, len(t.Columns))
	for c, col := range t.Columns {
		widths[c], priorities[c] = termtext.Width(col.Title), col.Priority
	}
	for _, row := range t.Rows {
		for c, cell := range row {
			w := termtext.Width(cell.Text)
			if t.Columns[c].Max > 0 {
				w = min(w, t.Columns[c].Max)
			}
			widths[c] = max(widths[c], w)
		}
	}
	shown, _ := Fit(widths, priorities, width)
	var header strings.Builder
	header.WriteString(strings.Repeat(" ", SelectorWidth))
	for n, c := range shown {
		if n > 0 {
			header.WriteString(Gap)
		}
		header.WriteString(termtext.Pad(t.Columns[c].Title, widths[c]))
	}
	lines := []string{t.Header.Render(strings.TrimRight(header.String(), " "))}
	first, last := Window(len(t.Rows), t.Selected, max(room-1, 1))
	for i := first; i < last; i++ {
		selected := i == t.Selected
		var row strings.Builder
		for n, c := range shown {
			if n > 0 {
				row.WriteString(Gap)
			}
			text := termtext.Truncate(t.Rows[i][c].Text, widths[c])
			if n < len(shown)-1 {
				text = termtext.Pad(text, widths[c])
			}
			if !selected {
				text = t.Rows[i][c].Style.Render(text)
			}
			row.WriteString(text)
		}
		if selected {
			lines = append(lines, Selector+t.Picked.Render(row.String()))
		} else {
			lines = append(lines, strings.Repeat(" ", SelectorWidth)+row.String())
		}
	}
	return lines
}
