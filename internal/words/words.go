package words

import (
	"strconv"
	"time"
)

// Count is n followed by the singular noun one when n is 1 or -1, by many
// otherwise: Count(1, "listener", "listeners") is "1 listener".
func Count(n int, one, many string) string {
	if n == 1 || n == -1 {
		return strconv.Itoa(n) + " " + one
	}
	return strconv.Itoa(n) + " " + many
}

// Days is Count for days: "1 day", "30 days".
func Days(n int) string { return Count(n, "day", "days") }

const day = 24 * time.Hour

// Left says how long a certificate valid until notAfter has at now, in whole
// days: "7299 days left", "1 day left", "expires today" (less than a day left),
// "expired today" (less than a day ago), "expired 1 day ago", "expired 699 days
// ago".
func Left(now, notAfter time.Time) string {
	d := notAfter.Sub(now)
	switch {
	case d >= day:
		return Days(int(d/day)) + " left"
	case d > 0:
		return "expires today"
	case d > -day:
		return "expired today"
	}
	return "expired " + Days(int(-d/day)) + " ago"
}
