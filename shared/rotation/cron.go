package rotation

import (
	"strconv"
	"strings"

	"github.com/dbcreds/provisioner/shared/errcode"
)

// parseCron reads the six fields of a Secrets Manager cron(): minutes
// (must be 0: windows open on the hour), hours 0-23, day-of-month 1-31,
// month 1-12 or JAN-DEC, day-of-week 1-7 or SUN-SAT, year (must be *).
// Day-of-month and day-of-week cannot both be given: one is "?".
func parseCron(body, field string) (Schedule, error) {
	fields := strings.Split(body, " ")
	if len(fields) != 6 {
		return Schedule{}, errcode.Invalidf(field, "a cron expression has six fields separated by single spaces (minutes hours day-of-month month day-of-week year), got %d", len(fields))
	}
	minutes, hours, dom, month, dow, year := fields[0], fields[1], fields[2], fields[3], fields[4], fields[5]
	if minutes != "0" {
		return Schedule{}, errcode.Invalidf(field, "the minutes field must be 0: rotation windows open on the hour, got %s", errcode.Quote(minutes))
	}
	if year != "*" {
		return Schedule{}, errcode.Invalidf(field, "the year field must be *: Secrets Manager schedules nothing more than a year apart, got %s", errcode.Quote(year))
	}
	set, err := parseField(hours, "hours", 0, 23, nil, field)
	if err != nil {
		return Schedule{}, err
	}
	if set == nil {
		return Schedule{}, errcode.Invalidf(field, "the hours field cannot be ?")
	}
	switch {
	case dom == "?" && dow == "?":
		return Schedule{}, errcode.Invalidf(field, "day-of-month and day-of-week cannot both be ?: give one, and ? in the other")
	case dom != "?" && dow != "?":
		return Schedule{}, errcode.Invalidf(field, "day-of-month and day-of-week cannot both be given: use ? in one of them")
	}
	if err := checkDays(dom, "day-of-month", 1, 31, nil, field); err != nil {
		return Schedule{}, err
	}
	if _, err := parseField(month, "month", 1, 12, monthNames, field); err != nil || month == "?" {
		if err == nil {
			err = errcode.Invalidf(field, "the month field cannot be ?")
		}
		return Schedule{}, err
	}
	if err := checkDays(dow, "day-of-week", 1, 7, dayNames, field); err != nil {
		return Schedule{}, err
	}
	s := Schedule{Hours: set, InHours: len(set) > 1}
	if s.InHours {
		if gap := s.shortestGap(); gap < MinHours {
			return Schedule{}, errcode.Invalidf(field, "windows %d hours apart: Secrets Manager rotates at most every %d hours (an hours schedule starts again each day)", gap, MinHours)
		}
	}
	return s, nil
}

var (
	monthNames = []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}
	dayNames   = []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}
)

// checkDays reads a day field, which besides lists, ranges and increments
// takes ? and L (the last day); day-of-week also takes 6L (the month's last
// Friday) and 6#3 (its third Friday).
func checkDays(s, name string, lo, hi int, names []string, field string) error {
	switch {
	case s == "?" || s == "L":
		return nil
	case names != nil && strings.HasSuffix(s, "L"):
		if _, ok := value(s[:len(s)-1], lo, hi, names); ok {
			return nil
		}
	case names != nil && strings.Contains(s, "#"):
		day, nth, _ := strings.Cut(s, "#")
		_, dayOK := value(day, lo, hi, names)
		if n, err := strconv.Atoi(nth); dayOK && err == nil && n >= 1 && n <= 5 {
			return nil
		}
		return errcode.Invalidf(field, "the %s field's # takes a day and a week of the month from 1 to 5, like 6#3, got %s", name, errcode.Quote(s))
	}
	_, err := parseField(s, name, lo, hi, names, field)
	return err
}

// parseField reads a field of values lo-hi (or names, for lo, lo+1...) with
// the wildcards , - * and /, and returns the values it selects in order;
// "?" selects nothing and is left to the caller.
func parseField(s, name string, lo, hi int, names []string, field string) ([]int, error) {
	if s == "?" {
		return nil, nil
	}
	bad := func(why string) error {
		return errcode.Invalidf(field, "the %s field %s: %s", name, errcode.Quote(s), why)
	}
	selected := make([]bool, hi+1)
	for _, part := range strings.Split(s, ",") {
		span, step, stepped := strings.Cut(part, "/")
		from, to := lo, hi
		switch {
		case span == "*":
		case strings.Contains(span, "-"):
			a, b, _ := strings.Cut(span, "-")
			var okA, okB bool
			from, okA = value(a, lo, hi, names)
			to, okB = value(b, lo, hi, names)
			if !okA || !okB || from > to {
				return nil, bad("a range is two values from " + rangeOf(lo, hi, names) + ", the first not after the second")
			}
		default:
			var ok bool
			if from, ok = value(span, lo, hi, names); !ok {
				return nil, bad("each value must be from " + rangeOf(lo, hi, names))
			}
			if !stepped {
				to = from
			}
		}
		by := 1
		if stepped {
			n, err := strconv.Atoi(step)
			if err != nil || step[0] == '+' || step[0] == '-' || n < 1 {
				return nil, bad("an increment after / must be a positive whole number")
			}
			by = n
		}
		for v := from; v <= to; v += by {
			selected[v] = true
			if by > to-v {
				break // the next would pass to, or overflow: 23/9223372036854775807
			}
		}
	}
	var out []int
	for v := lo; v <= hi; v++ {
		if selected[v] {
			out = append(out, v)
		}
	}
	return out, nil
}

// value reads one value: a number lo-hi or, with names, a name of one.
func value(s string, lo, hi int, names []string) (int, bool) {
	for i, n := range names {
		if strings.EqualFold(s, n) {
			return lo + i, true
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || s == "" || s[0] < '0' || s[0] > '9' || n < lo || n > hi {
		return 0, false
	}
	return n, true
}

func rangeOf(lo, hi int, names []string) string {
	r := strconv.Itoa(lo) + " to " + strconv.Itoa(hi)
	if names != nil {
		r += " or " + names[0] + " to " + names[len(names)-1]
	}
	return r
}
