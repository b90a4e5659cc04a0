package expiry

import (
	"strings"
	"testing"
	"time"

	"github.com/dbcreds/provisioner/shared/errcode"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		says string // in the error, when refused
	}{
		{"PT15M", 15 * time.Minute, ""},
		{"PT8H", 8 * time.Hour, ""},
		{"P7D", 7 * 24 * time.Hour, ""},
		{"P1W", 7 * 24 * time.Hour, ""},
		{"P1DT12H", 36 * time.Hour, ""},
		{"PT90M", 90 * time.Minute, ""},
		{"PT3600S", time.Hour, ""},
		{"P2W3DT4H5M6S", (17*24+4)*time.Hour + 5*time.Minute + 6*time.Second, ""},
		{"", 0, "starts with P"},
		{"P", 0, "starts with P"},
		{"PT", 0, "starts with P"},
		{"8h", 0, "starts with P"},
		{"pt8h", 0, "starts with P"},
		{"P1Y", 0, "no fixed length"},
		{"P1M", 0, "no fixed length"},
		{"P1DT", 0, "followed by"},
		{"PT1H30M", 90 * time.Minute, ""},
		{"PT30M1H", 0, "in that order"},
		{"P1D1D", 0, "in that order"},
		{"PT1D", 0, "in that order"},
		{"P1H", 0, "in that order"},
		{"PT1.5H", 0, "whole digits"},
		{"PTH", 0, "whole digits"},
		{"P-1D", 0, "whole digits"},
		{"PT1HT1M", 0, "T comes once"},
		{"P1234567890D", 0, "9 digits"},
		{"P999999999W", 0, "far too long"},
	} {
		got, err := ParseDuration(tc.in)
		switch {
		case tc.says == "" && (err != nil || got != tc.want):
			t.Errorf("%q: %v, %v; want %v", tc.in, got, err, tc.want)
		case tc.says != "" && (err == nil || !strings.Contains(err.Error(), tc.says)):
			t.Errorf("%q: %v, %v; want an error saying %q", tc.in, got, err, tc.says)
		}
	}
}

func TestWhen(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 500_000_000, time.UTC)
	for _, tc := range []struct {
		after, at string
		want      time.Time
		field     string // refused, naming it
	}{
		{"", "", time.Time{}, ""},
		{"PT15M", "", time.Date(2026, 12, 4, 10, 15, 1, 0, time.UTC), ""}, // never earlier: the next whole second
		{"P365D", "", now.Add(365 * 24 * time.Hour).Truncate(time.Second).Add(time.Second), ""},
		{"PT14M59S", "", time.Time{}, "expiresAfter"},
		{"P365DT1S", "", time.Time{}, "expiresAfter"},
		{"P1Y", "", time.Time{}, "expiresAfter"},
		{"", "2026-12-04T11:00:00+01:00", time.Time{}, "expiresAt"}, // 10:00 UTC: now
		{"", "2026-12-04T12:00:00+01:00", time.Date(2026, 12, 4, 11, 0, 0, 0, time.UTC), ""},
		{"", "2026-12-04T10:15:00Z", time.Time{}, "expiresAt"}, // 14m59.5s ahead
		{"", "2026-12-04T10:15:01Z", time.Date(2026, 12, 4, 10, 15, 1, 0, time.UTC), ""},
		{"", "2027-12-05T10:00:00Z", time.Time{}, "expiresAt"},
		{"", "2026-12-04 12:00:00", time.Time{}, "expiresAt"},
		{"", "2026-12-04T12:00:00", time.Time{}, "expiresAt"}, // RFC 3339 needs the offset
		{"PT1H", "2026-12-04T12:00:00Z", time.Time{}, "expiresAt"},
	} {
		got, err := When(tc.after, tc.at, now)
		if tc.field != "" {
			if e, ok := err.(*errcode.Error); !ok || e.Field != tc.field || e.Code != errcode.Invalid {
				t.Errorf("%q %q: %v, %v; want invalid %s", tc.after, tc.at, got, err, tc.field)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("%q %q: %v, %v; want %v", tc.after, tc.at, got, err, tc.want)
		}
	}
}

func TestName(t *testing.T) {
	a := Name("http-api", "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/x-AbCdEf")
	b := Name("eventbridge", "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/x-AbCdEf")
	if !strings.HasPrefix(a, "http-api-") || !strings.HasPrefix(b, "eventbridge-") || len(a) > 64 || len(b) > 64 || a == Name("http-api", "arn:other") {
		t.Fatalf("%s %s", a, b)
	}
	for _, c := range a + b { // EventBridge Scheduler: [0-9a-zA-Z-_.]+
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			t.Fatalf("%q in a schedule name", c)
		}
	}
}
