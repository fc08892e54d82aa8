// Package qrterm draws QR codes in a terminal with half-block characters, two modules per
// character cell, so a pairing URI fits beside its PIN at 80×24.
package qrterm

import (
	"strings"

	"rsc.io/qr"
)

// quietZone is the light border around the code, in modules. The standard asks for 4;
// phone scanners read 2 reliably, and it saves terminal rows.
const quietZone = 2

// Render returns text as a QR code (error correction L), one string per line joined by
// newlines. Light modules are drawn with block characters and dark ones are left blank, so
// on the usual dark terminal background the code has the polarity scanners expect, with or
// without colours.
func Render(text string) (string, error) {
	code, err := qr.Encode(text, qr.L)
	if err != nil {
		return "", err
	}
	light := func(x, y int) bool {
		x, y = x-quietZone, y-quietZone
		if x < 0 || y < 0 || x >= code.Size || y >= code.Size {
			return true
		}
		return !code.Black(x, y)
	}
	side := code.Size + 2*quietZone
	var b strings.Builder
	for y := 0; y < side; y += 2 {
		if y > 0 {
			b.WriteByte('\n')
		}
		for x := 0; x < side; x++ {
			top, bottom := light(x, y), y+1 < side && light(x, y+1)
			switch {
			case top && bottom:
				b.WriteRune('█')
			case top:
				b.WriteRune('▀')
			case bottom:
				b.WriteRune('▄')
			default:
				b.WriteByte(' ')
			}
		}
	}
	return b.String(), nil
}
