package renew_test

import (
	"fmt"
	"time"

	"github.com/keybridge/keybridge/renew"
)

// A 47-day certificate, 16 days before it expires, where the CA offers no
// renewal window: a third of its lifetime remains, so it is due.
func ExampleDue() {
	notBefore := time.Date(2029, 4, 1, 0, 0, 0, 0, time.UTC)
	notAfter := notBefore.Add(47 * 24 * time.Hour)
	now := notAfter.Add(-15 * 24 * time.Hour)
	d := renew.Due(now, notBefore, notAfter, nil, 0, renew.DefaultEvery, false)
	fmt.Println(d.Due, d.Reason)
	// Output: true 15 days left of 47 days, a third or less
}
