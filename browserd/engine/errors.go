package engine

import "errors"

// Errors callers can tell apart with errors.Is. Most returned errors wrap one of these with
// the detail (which selector, which limit, what the browser said).
var (
	ErrUnavailable     = errors.New("browser unavailable")
	ErrEngineClosed    = errors.New("browser engine closed")
	ErrTooManySessions = errors.New("browser session capacity reached")
	ErrSessionNotFound = errors.New("browser session not found")
	ErrSessionEnded    = errors.New("browser session ended")
	ErrBrowserCrashed  = errors.New("chromium exited unexpectedly")
	ErrExpired         = errors.New("browser session expired")
	ErrBudget          = errors.New("browser session budget exhausted")
	ErrRefused         = errors.New("refused by the target policy")
	ErrNotFound        = errors.New("element not found")
	ErrTimeout         = errors.New("browser action timed out")
	ErrTooLarge        = errors.New("result over its size limit")
	ErrInvalid         = errors.New("invalid browser action argument")
	ErrLoad            = errors.New("the page could not be loaded") // the target's fault: DNS, connection, TLS
)
