package idempotency

import "time"

// SetClock and SetTable let the tests move time and point at another table.
func SetClock(r *Records, now func() time.Time) { r.now = now }
func SetTable(r *Records, table string)         { r.table = table }
