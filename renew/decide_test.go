package renew

import (
	"testing"
	"time"
)

func TestDue(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	d := 24 * time.Hour
	for _, tc := range []struct {
		name                string
		notBefore, notAfter time.Time
		ari                 *Window
		within              time.Duration
		force               bool
		want                bool
	}{
		{"fresh 90-day, default third", now.Add(-10 * d), now.Add(80 * d), nil, 0, false, false},
		{"90-day with 30 days left", now.Add(-60 * d), now.Add(30 * d), nil, 0, false, true},
		{"90-day with 31 days left", now.Add(-59 * d), now.Add(31 * d), nil, 0, false, false},
		{"47-day with 15 days left", now.Add(-32 * d), now.Add(15 * d), nil, 0, false, true},
		{"expired", now.Add(-100 * d), now.Add(-d), nil, 0, false, true},
		{"renew-within reached", now.Add(-10 * d), now.Add(80 * d), nil, 90 * d, false, true},
		{"renew-within not reached", now.Add(-10 * d), now.Add(80 * d), nil, 30 * d, false, false},
		{"ARI window open", now.Add(-10 * d), now.Add(80 * d), &Window{now.Add(-time.Hour), now.Add(d)}, 0, false, true},
		{"ARI window later, third reached", now.Add(-60 * d), now.Add(10 * d), &Window{now.Add(d), now.Add(2 * d)}, 0, false, false},
		{"ARI window later beats renew-within", now.Add(-10 * d), now.Add(80 * d), &Window{now.Add(d), now.Add(2 * d)}, 365 * d, false, false},
		{"forced", now.Add(-10 * d), now.Add(80 * d), &Window{now.Add(d), now.Add(2 * d)}, 0, true, true},
		{"expired beats a later window", now.Add(-100 * d), now.Add(-d), &Window{now.Add(d), now.Add(2 * d)}, 0, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Due(now, tc.notBefore, tc.notAfter, tc.ari, tc.within, tc.force)
			if got.Due != tc.want || got.Reason == "" {
				t.Fatalf("Due = %+v, want due %v", got, tc.want)
			}
		})
	}
}
