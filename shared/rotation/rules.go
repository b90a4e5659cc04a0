// Package rotation switches on Secrets Manager's rotation of a secret. It
// checks the rotation rules as the service does, before any call, so that a
// request the service would refuse fails before anything is made; and it
// calls RotateSecret and CancelRotateSecret only when the secret's rotation
// differs from what is asked, so that a retry changes nothing twice.
//
// The rules are those of the Secrets Manager User Guide ("Rotation
// schedules", rotate-secrets_schedule.html) and of the API's
// RotationRulesType; each has a test.
//
// It imports nothing of the provisioner's but errcode, awsname and
// secretstore (a secret's description, the errors' classes); never the
// core above it.
package rotation

import (
	"strconv"
	"strings"

	"github.com/dbcreds/provisioner/shared/errcode"
)

// Rules are RotateSecret's RotationRules: automaticallyAfterDays or
// scheduleExpression, not both, and the window's duration.
type Rules struct {
	AutomaticallyAfterDays int    `json:"automaticallyAfterDays,omitempty"`
	ScheduleExpression     string `json:"scheduleExpression,omitempty"`
	Duration               string `json:"duration,omitempty"`
}

// Limits of the service, as documented.
const (
	MaxAutomaticallyAfterDays = 1000 // RotationRulesType: 1-1000
	MaxRateDays               = 999  // "The maximum rotation period is 999 days"
	MinHours                  = 4    // "as often as every four hours"
	MaxExpressionLength       = 256
)

// Check applies the service's rules; field names the rules in errors
// ("rotationRules").
func (r Rules) Check(field string) error {
	days, expr, duration := join(field, "automaticallyAfterDays"), join(field, "scheduleExpression"), join(field, "duration")
	switch {
	case r.AutomaticallyAfterDays != 0 && r.ScheduleExpression != "":
		return errcode.Invalidf(expr, "cannot be given with automaticallyAfterDays: a schedule is one or the other")
	case r.AutomaticallyAfterDays != 0:
		if r.AutomaticallyAfterDays < 1 || r.AutomaticallyAfterDays > MaxAutomaticallyAfterDays {
			return errcode.Invalidf(days, "must be between 1 and %d, got %d", MaxAutomaticallyAfterDays, r.AutomaticallyAfterDays)
		}
		if r.Duration != "" {
			// The window starts "according to the ScheduleExpression";
			// with a number of days there is none to start from.
			return errcode.Invalidf(duration, "is given only with scheduleExpression; for a window every N days use scheduleExpression rate(N days)")
		}
		return nil
	case r.ScheduleExpression == "":
		return errcode.Invalidf(field, "must give automaticallyAfterDays or scheduleExpression")
	}
	s, err := ParseSchedule(r.ScheduleExpression, expr)
	if err != nil {
		return err
	}
	if r.Duration == "" {
		return nil
	}
	hours, err := parseDuration(r.Duration, duration)
	if err != nil {
		return err
	}
	return s.fits(hours, duration)
}

// parseDuration reads a window like 3h: whole hours, 1 to 24.
func parseDuration(s, field string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSuffix(s, "h"))
	if !strings.HasSuffix(s, "h") || err != nil || s[0] < '0' || s[0] > '9' || n < 1 || n > 24 {
		return 0, errcode.Invalidf(field, "must be a whole number of hours from 1h to 24h, like 3h, got %s", errcode.Quote(s))
	}
	return n, nil
}

// Schedule is a parsed schedule expression: the hours of a day on which a
// rotation window opens, and whether the schedule is in hours (several
// windows a day) or in days.
type Schedule struct {
	// Hours on which a window opens; for a rate() in days, midnight.
	Hours []int
	// InHours is a schedule of more than one window a day (rate(N hours),
	// or a cron() with several hours): its window closes after one hour
	// by default and must end before the next opens.
	InHours bool
	// Every is the hours between windows of a rate() in hours.
	Every int
}

// ParseSchedule reads a rate() or cron() expression as Secrets Manager
// takes it; field names it in errors.
func ParseSchedule(s, field string) (Schedule, error) {
	if len(s) > MaxExpressionLength {
		return Schedule{}, errcode.Invalidf(field, "must be at most %d characters, got %d", MaxExpressionLength, len(s))
	}
	switch {
	case strings.HasPrefix(s, "rate(") && strings.HasSuffix(s, ")"):
		return parseRate(s[len("rate("):len(s)-1], field)
	case strings.HasPrefix(s, "cron(") && strings.HasSuffix(s, ")"):
		return parseCron(s[len("cron("):len(s)-1], field)
	}
	return Schedule{}, errcode.Invalidf(field, "must be rate(N hours|days) or cron(0 hours day-of-month month day-of-week *), got %s", errcode.Quote(s))
}

func parseRate(body, field string) (Schedule, error) {
	value, unit, ok := strings.Cut(body, " ")
	n, err := strconv.Atoi(value)
	if !ok || err != nil || value[0] == '+' || value[0] == '-' || n < 1 {
		return Schedule{}, errcode.Invalidf(field, "a rate must be a positive whole number and a unit, like rate(12 hours) or rate(30 days), got %s", errcode.Quote("rate("+body+")"))
	}
	switch unit {
	case "hour", "hours":
		if n < MinHours || n > 23 {
			return Schedule{}, errcode.Invalidf(field, "a rate in hours must be from %d to 23 hours (Secrets Manager rotates at most every %d hours; use days beyond), got %d", MinHours, MinHours, n)
		}
		return Schedule{Hours: []int{0}, InHours: true, Every: n}, nil
	case "day", "days":
		if n > MaxRateDays {
			return Schedule{}, errcode.Invalidf(field, "a rate in days must be from 1 to %d days, got %d", MaxRateDays, n)
		}
		return Schedule{Hours: []int{0}}, nil
	}
	return Schedule{}, errcode.Invalidf(field, "a rate's unit must be hour, hours, day or days, got %s", errcode.Quote(unit))
}

// fits checks a window of the given hours against the schedule: it must
// not run into the next UTC day, nor into the next window.
func (s Schedule) fits(hours int, field string) error {
	last := s.Hours[len(s.Hours)-1]
	if last+hours > 24 {
		return errcode.Invalidf(field, "a %dh window opening at %02d:00 UTC would run into the next UTC day", hours, last)
	}
	if gap := s.shortestGap(); s.InHours && hours > gap {
		return errcode.Invalidf(field, "a %dh window would run into the next one, %d hours later", hours, gap)
	}
	return nil
}

// shortestGap is the fewest hours between two windows of a schedule in
// hours. A cron() in hours starts again each day, so the last window of a
// day is followed by the first of the next.
func (s Schedule) shortestGap() int {
	if s.Every > 0 {
		return s.Every
	}
	gap := 24 - s.Hours[len(s.Hours)-1] + s.Hours[0]
	for i := 1; i < len(s.Hours); i++ {
		gap = min(gap, s.Hours[i]-s.Hours[i-1])
	}
	return gap
}

func join(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}
