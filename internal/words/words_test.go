package words

import (
	"testing"
	"time"
)

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{
		{0, "0 listeners"},
		{1, "1 listener"},
		{2, "2 listeners"},
		{-1, "-1 listener"},
		{21, "21 listeners"},
		{36, "36 listeners"},
	} {
		if got := Count(tc.n, "listener", "listeners"); got != tc.want {
			t.Errorf("Count(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
	if got := Count(1, "entry", "entries"); got != "1 entry" {
		t.Errorf("irregular plural: %q", got)
	}
	if got := Count(0, "entry", "entries"); got != "0 entries" {
		t.Errorf("irregular plural: %q", got)
	}
}

func TestLeft(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		notAfter time.Time
		want     string
	}{
		{now.Add(7299*day + time.Hour), "7299 days left"},
		{now.Add(day), "1 day left"},
		{now.Add(47 * time.Hour), "1 day left"},
		{now.Add(30*day + time.Hour), "30 days left"},
		{now.Add(time.Minute), "expires today"},
		{now.Add(time.Hour), "expires today"},
		{now, "expired today"},
		{now.Add(-time.Hour), "expired today"},
		{now.Add(-day - time.Hour), "expired 1 day ago"},
		{now.Add(-699 * day), "expired 699 days ago"},
		{now.Add(-day), "expired 1 day ago"},
		{now.Add(-699*day - time.Hour), "expired 699 days ago"},
	} {
		if got := Left(now, tc.notAfter); got != tc.want {
			t.Errorf("Left(%s) = %q, want %q", tc.notAfter.Sub(now), got, tc.want)
		}
	}
}
