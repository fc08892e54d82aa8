package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"10m", now.Add(-10 * time.Minute)},
		{"-10m", now.Add(-10 * time.Minute)},
		{"1h30m", now.Add(-90 * time.Minute)},
		{"0s", now},
		{"2026-11-23T10:00:00Z", time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)},
		{"2026-11-23T10:00:00.25+02:00", time.Date(2026, 11, 23, 8, 0, 0, 250e6, time.UTC)},
		{"2026-11-23T10:00:00", time.Date(2026, 11, 23, 10, 0, 0, 0, time.Local)},
		{"2026-11-23 10:00:00", time.Date(2026, 11, 23, 10, 0, 0, 0, time.Local)},
		{"2026-11-23", time.Date(2026, 11, 23, 0, 0, 0, 0, time.Local)},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseSince(tc.in, now)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tc.want) {
				t.Errorf("parseSince(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseSinceRejects(t *testing.T) {
	for _, in := range []string{"", "10", "yesterday", "2026-13-01", "10:00"} {
		t.Run(in, func(t *testing.T) {
			_, err := parseSince(in, time.Now())
			if err == nil || !strings.Contains(err.Error(), "--since") {
				t.Errorf("parseSince(%q) = %v, want an error naming --since", in, err)
			}
		})
	}
}
