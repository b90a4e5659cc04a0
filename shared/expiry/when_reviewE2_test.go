package expiry

import (
	"testing"
	"time"
)

// TestParseDurationOverflowReviewE2: an amount whose product with its unit
// overflows time.Duration (int64 nanoseconds, ~292 years) wraps around
// before the "far too long" check, so a request for centuries is accepted
// as minutes. P213504D (584 years) reads as about 25 minutes and passes
// When's bounds: the credential is removed 25 minutes later.
func TestParseDurationOverflowReviewE2(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	for _, in := range []string{"P213504D", "PT5124096H", "PT307445750M", "P30501W", "P1W213504D"} {
		if d, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want refused as far too long", in, d)
		}
		if at, err := When(in, "", now); err == nil {
			t.Errorf("When(%q) accepted: expires at %v (%v from now), want refused", in, at, at.Sub(now))
		}
	}
}
