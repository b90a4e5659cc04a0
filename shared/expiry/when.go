// Package expiry is credentials that remove themselves: when a request
// asks (expiresAfter, an ISO 8601 duration, or expiresAt, an RFC 3339
// time), an EventBridge Scheduler one-time schedule invokes the function
// that made the secret at that time, with a payload naming the secret and
// a token recorded where only the functions write (userledger). The
// function then removes the credential as DELETE does.
//
// It imports nothing of the provisioner's but awsclient, errcode and
// userledger; provision builds on it.
package expiry

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dbcreds/provisioner/shared/errcode"
)

// The bounds of an expiry, from the time it is asked for.
const (
	MinLead = 15 * time.Minute
	MaxLead = 365 * 24 * time.Hour
)

// When is the time a request's expiresAfter or expiresAt names, checked
// against the bounds from now; zero when it names none. Both at once are
// refused: they could disagree.
func When(after, at string, now time.Time) (time.Time, error) {
	switch {
	case after != "" && at != "":
		return time.Time{}, errcode.Invalidf("expiresAt", "cannot be given with expiresAfter: give one of them")
	case after != "":
		d, err := ParseDuration(after)
		if err != nil {
			return time.Time{}, errcode.Invalidf("expiresAfter", "%s", err.Error())
		}
		if d < MinLead || d > MaxLead {
			return time.Time{}, errcode.Invalidf("expiresAfter", "must be from 15 minutes (PT15M) to 365 days (P365D), got %s", errcode.Quote(after))
		}
		return ceilSecond(now.Add(d)), nil
	case at != "":
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return time.Time{}, errcode.Invalidf("expiresAt", "must be an RFC 3339 time such as 2026-12-31T18:00:00Z, got %s", errcode.Quote(at))
		}
		switch lead := t.Sub(now); {
		case lead < MinLead:
			return time.Time{}, errcode.Invalidf("expiresAt", "must be at least 15 minutes in the future, got %s", errcode.Quote(at))
		case lead > MaxLead:
			return time.Time{}, errcode.Invalidf("expiresAt", "must be at most 365 days in the future, got %s", errcode.Quote(at))
		}
		return ceilSecond(t), nil
	}
	return time.Time{}, nil
}

// ceilSecond is t in UTC at a whole second, never earlier: a schedule's
// at() takes seconds.
func ceilSecond(t time.Time) time.Time {
	t = t.UTC()
	if c := t.Truncate(time.Second); !c.Equal(t) {
		return c.Add(time.Second)
	}
	return t
}

// ParseDuration reads an ISO 8601 duration of weeks, days, hours,
// minutes and seconds (P1W, P7D, PT8H, P1DT12H, PT90M). Years and months
// are refused: they have no fixed length.
func ParseDuration(s string) (time.Duration, error) {
	bad := func(why string) (time.Duration, error) {
		return 0, fmt.Errorf("must be an ISO 8601 duration such as PT8H or P7D: %s; got %s", why, errcode.Quote(s))
	}
	rest, ok := strings.CutPrefix(s, "P")
	if !ok || rest == "" || rest == "T" {
		return bad("it starts with P and names at least one amount")
	}
	units := map[byte]time.Duration{'W': 7 * 24 * time.Hour, 'D': 24 * time.Hour}
	order := "WD"
	var total time.Duration
	inTime := false
	for rest != "" {
		if rest[0] == 'T' {
			if inTime {
				return bad("T comes once")
			}
			inTime, rest = true, rest[1:]
			if rest == "" {
				return bad("T is followed by hours, minutes or seconds")
			}
			units = map[byte]time.Duration{'H': time.Hour, 'M': time.Minute, 'S': time.Second}
			order = "HMS"
			continue
		}
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) {
			return bad("each amount is whole digits followed by its unit")
		}
		if i > 9 {
			return bad("an amount has at most 9 digits")
		}
		n, _ := strconv.Atoi(rest[:i])
		unit := rest[i]
		if unit < 'A' || unit > 'Z' {
			return bad("each amount is whole digits followed by its unit")
		}
		if !inTime && (unit == 'Y' || unit == 'M') {
			return bad("years and months have no fixed length; use days, such as P30D")
		}
		at := strings.IndexByte(order, unit)
		if at < 0 {
			return bad("the units are W and D before T, H, M and S after it, in that order, each once")
		}
		order = order[at+1:] // each unit once, in order
		// Checked before multiplying: nine digits of weeks overflow a Duration
		// and would wrap round to a short one.
		if time.Duration(n) > 10*MaxLead/units[unit] {
			return bad("it is far too long")
		}
		total += time.Duration(n) * units[unit]
		if total > 10*MaxLead {
			return bad("it is far too long")
		}
		rest = rest[i+1:]
	}
	return total, nil
}
