package grid_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/palyra/palyra/tui/grid"
)

func TestWindowKeepsTheSelectionInView(t *testing.T) {
	for _, c := range []struct{ n, sel, room, first, last int }{
		{5, 4, 10, 0, 5}, {100, 0, 10, 0, 10}, {100, 50, 10, 45, 55}, {100, 99, 10, 90, 100},
	} {
		if f, l := grid.Window(c.n, c.sel, c.room); f != c.first || l != c.last {
			t.Errorf("Window(%d,%d,%d) = %d,%d; want %d,%d", c.n, c.sel, c.room, f, l, c.first, c.last)
		}
	}
}

func TestFitDropsLowPriorityColumnsFirst(t *testing.T) {
	widths, priorities := []int{10, 10, 10}, []int{10, 5, 8}
	if shown, _ := grid.Fit(widths, priorities, 80); !slices.Equal(shown, []int{0, 1, 2}) {
		t.Fatalf("wide: %v", shown)
	}
	if shown, used := grid.Fit(widths, priorities, 26); !slices.Equal(shown, []int{0, 2}) || used != 24 {
		t.Fatalf("narrow: %v %d", shown, used)
	}
	if shown, _ := grid.Fit(widths, priorities, 3); !slices.Equal(shown, []int{0}) {
		t.Fatalf("the first column always stays: %v", shown)
	}
}

func TestTableLinesMarksTheSelectionAndFitsRoom(t *testing.T) {
	tb := grid.Table{Columns: []grid.Column{{Title: "NAME", Priority: 2}, {Title: "STATE", Priority: 1, Max: 5}}, Selected: 7}
	for i := range 20 {
		tb.Rows = append(tb.Rows, []grid.Cell{{Text: strings.Repeat("n", i%4+1)}, {Text: "running-long"}})
	}
	lines := tb.Lines(40, 6)
	if len(lines) != 6 || !strings.HasPrefix(lines[0], "  NAME") {
		t.Fatalf("%q", lines)
	}
	picked := 0
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, grid.Selector) {
			picked++
		}
		if !strings.HasSuffix(l, "runn…") {
			t.Fatalf("a cell past its max is cut: %q", l)
		}
	}
	if picked != 1 {
		t.Fatalf("%d rows marked selected", picked)
	}
}
