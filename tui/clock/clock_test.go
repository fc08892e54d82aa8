package clock

import (
	"testing"
	"time"
)

func TestShort(t *testing.T) {
	cases := map[time.Duration]string{
		0:                                     "0s",
		42 * time.Second:                      "42s",
		5*time.Minute + 2*time.Second:         "5m02s",
		3*time.Hour + 7*time.Minute:           "3h07m",
		50*time.Hour + 59*time.Minute:         "2d02h",
		-time.Second:                          "0s",
		999 * time.Millisecond:                "0s",
		59*time.Second + 999*time.Millisecond: "59s",
	}
	for d, want := range cases {
		if got := Short(d); got != want {
			t.Errorf("Short(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestShortChangesIn(t *testing.T) {
	cases := map[time.Duration]time.Duration{
		-2 * time.Second:                      3 * time.Second,
		0:                                     time.Second,
		42*time.Second + 300*time.Millisecond: 700 * time.Millisecond,
		59*time.Minute + 59*time.Second:       time.Second,
		time.Hour:                             time.Minute,
		3*time.Hour + 7*time.Minute + 20*time.Second: 40 * time.Second,
		50*time.Hour + 59*time.Minute:                time.Minute,
	}
	for d, want := range cases {
		got := ShortChangesIn(d)
		if got != want {
			t.Errorf("ShortChangesIn(%v) = %v, want %v", d, got, want)
		}
		if Short(d+got-time.Nanosecond) != Short(d) || Short(d+got) == Short(d) {
			t.Errorf("Short changes from %q other than %v after %v", Short(d), got, d)
		}
	}
}

func TestCoarse(t *testing.T) {
	cases := map[time.Duration]string{
		42 * time.Second:                "42s",
		50*time.Minute + 34*time.Second: "50m",
		3*time.Hour + 59*time.Minute:    "3h",
		50 * time.Hour:                  "2d",
		-time.Minute:                    "0s",
	}
	for d, want := range cases {
		if got := Coarse(d); got != want {
			t.Errorf("Coarse(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestCountdown(t *testing.T) {
	at := time.Date(2026, 11, 22, 14, 30, 0, 0, time.UTC)
	cases := map[time.Duration]string{
		-time.Second:                         "0s",
		0:                                    "0s",
		time.Millisecond:                     "1s",
		2*time.Second + 400*time.Millisecond: "3s",
		10 * time.Minute:                     "10m00s",
	}
	for d, want := range cases {
		if got := Countdown(at.Add(d), at); got != want {
			t.Errorf("Countdown(+%v) = %q, want %q", d, got, want)
		}
	}
}

func TestFromUnixMs(t *testing.T) {
	if !FromUnixMs(0).IsZero() {
		t.Fatal("0 is not the zero time")
	}
	at := time.Date(2026, 11, 22, 14, 30, 0, 0, time.UTC)
	if got := FromUnixMs(at.UnixMilli()); !got.Equal(at) {
		t.Fatalf("FromUnixMs = %v, want %v", got, at)
	}
}
