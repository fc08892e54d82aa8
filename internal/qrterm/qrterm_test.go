package qrterm

import (
	"strings"
	"testing"
	"unicode/utf8"

	"rsc.io/qr"
)

// decode reads the drawing back into modules, to check it against the encoder's own.
func decode(t *testing.T, drawing string) [][]bool {
	t.Helper()
	var rows [][]bool
	for _, line := range strings.Split(drawing, "\n") {
		top, bottom := []bool{}, []bool{}
		for _, r := range line {
			switch r {
			case '█':
				top, bottom = append(top, true), append(bottom, true)
			case '▀':
				top, bottom = append(top, true), append(bottom, false)
			case '▄':
				top, bottom = append(top, false), append(bottom, true)
			case ' ':
				top, bottom = append(top, false), append(bottom, false)
			default:
				t.Fatalf("unexpected rune %q", r)
			}
		}
		rows = append(rows, top, bottom)
	}
	return rows
}

func TestDrawingMatchesTheCodeModuleForModule(t *testing.T) {
	text := "palyra://pair?code=01HZX3K9QF2V8M7T&addr=10.0.0.5:7444&ca=3f9c2a"
	drawing, err := Render(text)
	if err != nil {
		t.Fatal(err)
	}
	code, err := qr.Encode(text, qr.L)
	if err != nil {
		t.Fatal(err)
	}
	light := decode(t, drawing)
	side := code.Size + 2*quietZone
	if w := utf8.RuneCountInString(strings.Split(drawing, "\n")[0]); w != side {
		t.Fatalf("width %d, want %d", w, side)
	}
	for y := 0; y < side; y++ {
		for x := 0; x < side; x++ {
			inCode := x >= quietZone && y >= quietZone && x < quietZone+code.Size && y < quietZone+code.Size
			want := !inCode || !code.Black(x-quietZone, y-quietZone)
			if light[y][x] != want {
				t.Fatalf("module (%d,%d): light=%v, want %v", x, y, light[y][x], want)
			}
		}
	}
}

func TestPairingURIFitsBesideItsPIN(t *testing.T) {
	drawing, err := Render("palyra://pair?code=pq_" + strings.Repeat("A", 43) + "&addr=203.0.113.200:7444&ca=" + strings.Repeat("f", 32))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(drawing, "\n")
	if len(lines) > 23 || utf8.RuneCountInString(lines[0]) > 60 {
		t.Fatalf("drawing is %d×%d cells; too big for an 80×24 overlay", utf8.RuneCountInString(lines[0]), len(lines))
	}
}
