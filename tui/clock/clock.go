// Package clock renders durations and times the way every pane shows them: short, in at
// most two units, and countdowns that never reach 0s early.
package clock

import (
	"fmt"
	"time"
)

// Short renders a duration in at most two units: 42s, 5m02s, 3h07m, 2d04h. Negative
// durations are 0s.
func Short(d time.Duration) string {
	d = max(d, 0).Truncate(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

// ShortChangesIn is how long until Short shows another text for a duration that is d now
// and grows: a second while seconds show, then a minute, then an hour.
func ShortChangesIn(d time.Duration) time.Duration {
	unit := time.Second
	switch {
	case d < 0:
		return time.Second - d
	case d >= 24*time.Hour:
		unit = time.Hour
	case d >= time.Hour:
		unit = time.Minute
	}
	return unit - d%unit
}

// Coarse renders a duration in its largest unit only: 42s, 50m, 3h, 2d; for narrow columns
// where "ago" follows. Negative durations are 0s.
func Coarse(d time.Duration) string {
	d = max(d, 0)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours())/24)
}

// Countdown is the time from at until t, rounded up to whole seconds so it never shows 0s
// before t; 0s once t has passed.
func Countdown(t, at time.Time) string {
	d := t.Sub(at)
	if d <= 0 {
		return "0s"
	}
	return Short((d + time.Second - 1).Truncate(time.Second))
}

// FromUnixMs turns a proto time in unix milliseconds into a time; 0 means not set and gives
// the zero time.
func FromUnixMs(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
