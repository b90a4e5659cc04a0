package sessionlimit

import "time"

// SetClock makes l read the time from now.
func (l *Limit) SetClock(now func() time.Time) { l.now = now }

// ShortWaits shortens the waits for a test, and puts them back after.
func ShortWaits(wait, keep time.Duration) (restore func()) {
	w, k := maxWait, reserve
	maxWait, reserve = wait, keep
	return func() { maxWait, reserve = w, k }
}
