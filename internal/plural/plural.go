// Package plural words a count: "1 device", "2 devices", "0 matches".
package plural

import "strconv"

// Count returns n followed by one when n is 1, else by many.
func Count(n int, one, many string) string {
	return strconv.Itoa(n) + " " + Word(n, one, many)
}

// Word returns one when n is 1, else many, for a count the caller formats itself.
func Word(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
