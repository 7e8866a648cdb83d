package renew

import (
	"fmt"
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
		within, every       time.Duration
		force               bool
		want                bool
	}{
		{"fresh 90-day, default third", now.Add(-10 * d), now.Add(80 * d), nil, 0, 0, false, false},
		{"90-day with 30 days left", now.Add(-60 * d), now.Add(30 * d), nil, 0, 0, false, true},
		{"90-day with 31 days left", now.Add(-59 * d), now.Add(31 * d), nil, 0, 0, false, false},
		{"47-day with 15 days left", now.Add(-32 * d), now.Add(15 * d), nil, 0, 0, false, true},
		{"expired", now.Add(-100 * d), now.Add(-d), nil, 0, 0, false, true},
		{"renew-within reached", now.Add(-10 * d), now.Add(80 * d), nil, 90 * d, 0, false, true},
		{"renew-within not reached", now.Add(-10 * d), now.Add(80 * d), nil, 30 * d, 0, false, false},
		{"ARI window open", now.Add(-10 * d), now.Add(80 * d), &Window{Start: now.Add(-time.Hour), End: now.Add(d)}, 0, 0, false, true},
		{"ARI window later, third reached", now.Add(-60 * d), now.Add(10 * d), &Window{Start: now.Add(d), End: now.Add(2 * d)}, 0, 0, false, false},
		{"ARI window later beats renew-within", now.Add(-10 * d), now.Add(80 * d), &Window{Start: now.Add(d), End: now.Add(2 * d)}, 365 * d, 0, false, false},
		{"forced", now.Add(-10 * d), now.Add(80 * d), &Window{Start: now.Add(d), End: now.Add(2 * d)}, 0, 0, true, true},
		{"ARI renewal time passed", now.Add(-10 * d), now.Add(80 * d), &Window{Start: now.Add(-d), End: now.Add(2 * d), At: now.Add(-time.Hour)}, 0, d, false, true},
		{"ARI window open, renewal time after the next run", now.Add(-10 * d), now.Add(80 * d), &Window{Start: now.Add(-d), End: now.Add(5 * d), At: now.Add(2 * d)}, 0, d, false, false},
		{"ARI renewal time before the next run", now.Add(-10 * d), now.Add(80 * d), &Window{Start: now.Add(-d), End: now.Add(5 * d), At: now.Add(20 * time.Hour)}, 0, d, false, true},
		{"ARI renewal time before the next run, window not open yet", now.Add(-10 * d), now.Add(80 * d), &Window{Start: now.Add(time.Hour), End: now.Add(5 * d), At: now.Add(2 * time.Hour)}, 0, d, false, true},
		{"ARI renewal time soon, runs only on time", now.Add(-10 * d), now.Add(80 * d), &Window{Start: now.Add(-d), End: now.Add(5 * d), At: now.Add(time.Hour)}, 0, -1, false, false},
		{"expired beats a later window", now.Add(-100 * d), now.Add(-d), &Window{Start: now.Add(d), End: now.Add(2 * d)}, 0, 0, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Due(now, tc.notBefore, tc.notAfter, tc.ari, tc.within, tc.every, tc.force)
			if got.Due != tc.want || got.Reason == "" {
				t.Fatalf("Due = %+v, want due %v", got, tc.want)
			}
		})
	}
}

// TestPickTime: the renewal time lies inside the window, is the same for the
// same certificate on every run, and is spread evenly across certificates.
func TestPickTime(t *testing.T) {
	start := time.Date(2027, 2, 4, 0, 0, 0, 0, time.UTC)
	w := Window{Start: start, End: start.Add(48 * time.Hour)}
	if a, b := PickTime(w, []byte("cert A")), PickTime(w, []byte("cert A")); !a.Equal(b) {
		t.Fatalf("the same certificate got %s and %s", a, b)
	}
	const n, buckets = 4000, 8
	var count [buckets]int
	for i := range n {
		at := PickTime(w, []byte(fmt.Sprintf("certificate %d", i)))
		if at.Before(w.Start) || !at.Before(w.End) {
			t.Fatalf("%s outside [%s, %s)", at, w.Start, w.End)
		}
		count[int(at.Sub(w.Start)*buckets/w.End.Sub(w.Start))]++
	}
	// Uniform: each eighth of the window gets 500 of 4000 certificates; a
	// bucket outside 400..600 (over 4.7 standard deviations) is not uniform.
	for i, c := range count {
		if c < 400 || c > 600 {
			t.Errorf("eighth %d of the window got %d of %d certificates: %v", i, c, n, count)
		}
	}
	if got := PickTime(Window{Start: start, End: start}, []byte("x")); !got.Equal(start) {
		t.Errorf("an empty window gave %s, want its start", got)
	}
}
