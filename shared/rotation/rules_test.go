package rotation

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dbcreds/provisioner/shared/errcode"
)

// Each rule of the service's, with the examples of its documentation.
func TestRulesCheck(t *testing.T) {
	for _, tc := range []struct {
		rules Rules
		field string // the field the error names; "" when the rules are valid
		says  string
	}{
		// AutomaticallyAfterDays: 1-1000.
		{rules: Rules{AutomaticallyAfterDays: 1}},
		{rules: Rules{AutomaticallyAfterDays: 1000}},
		{rules: Rules{AutomaticallyAfterDays: 1001}, field: "rotationRules.automaticallyAfterDays", says: "between 1 and 1000"},
		{rules: Rules{AutomaticallyAfterDays: -3}, field: "rotationRules.automaticallyAfterDays", says: "between 1 and 1000"},
		{rules: Rules{AutomaticallyAfterDays: 30, ScheduleExpression: "rate(30 days)"}, field: "rotationRules.scheduleExpression", says: "cannot be given with automaticallyAfterDays"},
		{rules: Rules{AutomaticallyAfterDays: 30, Duration: "3h"}, field: "rotationRules.duration", says: "only with scheduleExpression"},
		{rules: Rules{}, field: "rotationRules", says: "automaticallyAfterDays or scheduleExpression"},
		{rules: Rules{Duration: "3h"}, field: "rotationRules", says: "automaticallyAfterDays or scheduleExpression"},

		// A step past the field's range picks its start; one near the
		// largest int cannot overflow the walk (it panicked).
		{rules: Rules{ScheduleExpression: "cron(0 23/9223372036854775807 * * ? *)"}},
		{rules: Rules{ScheduleExpression: "cron(0 4 1/9223372036854775807 * ? *)"}},
		{rules: Rules{ScheduleExpression: "cron(0 4 1 1/9223372036854775807 ? *)"}},

		// rate(): hours (4 at least) or days (999 at most).
		{rules: Rules{ScheduleExpression: "rate(4 hours)"}},
		{rules: Rules{ScheduleExpression: "rate(12 hours)"}},
		{rules: Rules{ScheduleExpression: "rate(1 day)"}},
		{rules: Rules{ScheduleExpression: "rate(10 days)"}},
		{rules: Rules{ScheduleExpression: "rate(999 days)"}},
		{rules: Rules{ScheduleExpression: "rate(3 hours)"}, field: "rotationRules.scheduleExpression", says: "from 4 to 23 hours"},
		{rules: Rules{ScheduleExpression: "rate(24 hours)"}, field: "rotationRules.scheduleExpression", says: "from 4 to 23 hours"},
		{rules: Rules{ScheduleExpression: "rate(1000 days)"}, field: "rotationRules.scheduleExpression", says: "from 1 to 999 days"},
		{rules: Rules{ScheduleExpression: "rate(0 days)"}, field: "rotationRules.scheduleExpression", says: "positive whole number"},
		{rules: Rules{ScheduleExpression: "rate(+5 days)"}, field: "rotationRules.scheduleExpression", says: "positive whole number"},
		{rules: Rules{ScheduleExpression: "rate(5 minutes)"}, field: "rotationRules.scheduleExpression", says: "hour, hours, day or days"},
		{rules: Rules{ScheduleExpression: "rate(5  days)"}, field: "rotationRules.scheduleExpression", says: "hour, hours, day or days"},
		{rules: Rules{ScheduleExpression: "rate(days)"}, field: "rotationRules.scheduleExpression", says: "positive whole number"},
		{rules: Rules{ScheduleExpression: "every 5 days"}, field: "rotationRules.scheduleExpression", says: "must be rate("},
		{rules: Rules{ScheduleExpression: "rate(" + strings.Repeat("1", 260) + " days)"}, field: "rotationRules.scheduleExpression", says: "at most 256"},

		// cron(): the documentation's examples.
		{rules: Rules{ScheduleExpression: "cron(0 4/12 * * ? *)"}},
		{rules: Rules{ScheduleExpression: "cron(0 8/8 * * ? *)"}},
		{rules: Rules{ScheduleExpression: "cron(0 2/10 * * ? *)"}},
		{rules: Rules{ScheduleExpression: "cron(0 8 1/7 * ? *)"}},
		{rules: Rules{ScheduleExpression: "cron(0 0 ? * SUN#1 *)"}},
		{rules: Rules{ScheduleExpression: "cron(0 16 L * ? *)"}},
		{rules: Rules{ScheduleExpression: "cron(0 10 ? * 6L *)"}},
		{rules: Rules{ScheduleExpression: "cron(0 9 ? * MON-FRI *)"}},
		{rules: Rules{ScheduleExpression: "cron(0 0 1 JAN,APR,JUL,OCT ? *)"}},
		{rules: Rules{ScheduleExpression: "cron(0 0,4,8,12,16,20 * * ? *)"}},
		// cron(): the fields' rules.
		{rules: Rules{ScheduleExpression: "cron(30 4 * * ? *)"}, field: "rotationRules.scheduleExpression", says: "minutes field must be 0"},
		{rules: Rules{ScheduleExpression: "cron(0 4 * * ? 2027)"}, field: "rotationRules.scheduleExpression", says: "year field must be *"},
		{rules: Rules{ScheduleExpression: "cron(0 4 * * ?)"}, field: "rotationRules.scheduleExpression", says: "six fields"},
		{rules: Rules{ScheduleExpression: "cron(0  4 * * ? *)"}, field: "rotationRules.scheduleExpression", says: "six fields"},
		{rules: Rules{ScheduleExpression: "cron(0 24 * * ? *)"}, field: "rotationRules.scheduleExpression", says: "hours field"},
		{rules: Rules{ScheduleExpression: "cron(0 ? * * ? *)"}, field: "rotationRules.scheduleExpression", says: "hours field cannot be ?"},
		{rules: Rules{ScheduleExpression: "cron(0 4 * * * *)"}, field: "rotationRules.scheduleExpression", says: "cannot both be given"},
		{rules: Rules{ScheduleExpression: "cron(0 4 ? * ? *)"}, field: "rotationRules.scheduleExpression", says: "cannot both be ?"},
		{rules: Rules{ScheduleExpression: "cron(0 4 32 * ? *)"}, field: "rotationRules.scheduleExpression", says: "day-of-month field"},
		{rules: Rules{ScheduleExpression: "cron(0 4 15W * ? *)"}, field: "rotationRules.scheduleExpression", says: "day-of-month field"},
		{rules: Rules{ScheduleExpression: "cron(0 4 1 13 ? *)"}, field: "rotationRules.scheduleExpression", says: "month field"},
		{rules: Rules{ScheduleExpression: "cron(0 4 1 ? ? *)"}, field: "rotationRules.scheduleExpression", says: "month field cannot be ?"},
		{rules: Rules{ScheduleExpression: "cron(0 4 ? * 8 *)"}, field: "rotationRules.scheduleExpression", says: "day-of-week field"},
		{rules: Rules{ScheduleExpression: "cron(0 4 ? * MON#6 *)"}, field: "rotationRules.scheduleExpression", says: "# takes a day"},
		{rules: Rules{ScheduleExpression: "cron(0 4-2 * * ? *)"}, field: "rotationRules.scheduleExpression", says: "not after the second"},
		{rules: Rules{ScheduleExpression: "cron(0 */0 * * ? *)"}, field: "rotationRules.scheduleExpression", says: "increment"},
		// At most every four hours; an hours schedule starts again each day.
		{rules: Rules{ScheduleExpression: "cron(0 */4 * * ? *)"}},
		{rules: Rules{ScheduleExpression: "cron(0 */3 * * ? *)"}, field: "rotationRules.scheduleExpression", says: "3 hours apart"},
		{rules: Rules{ScheduleExpression: "cron(0 1,3 * * ? *)"}, field: "rotationRules.scheduleExpression", says: "2 hours apart"},
		{rules: Rules{ScheduleExpression: "cron(0 0/7 * * ? *)"}, field: "rotationRules.scheduleExpression", says: "3 hours apart"},

		// Duration: whole hours, 1h-24h, within the day and before the next window.
		{rules: Rules{ScheduleExpression: "rate(10 days)", Duration: "3h"}},
		{rules: Rules{ScheduleExpression: "rate(10 days)", Duration: "24h"}},
		{rules: Rules{ScheduleExpression: "rate(10 days)", Duration: "25h"}, field: "rotationRules.duration", says: "1h to 24h"},
		{rules: Rules{ScheduleExpression: "rate(10 days)", Duration: "0h"}, field: "rotationRules.duration", says: "1h to 24h"},
		{rules: Rules{ScheduleExpression: "rate(10 days)", Duration: "3"}, field: "rotationRules.duration", says: "1h to 24h"},
		{rules: Rules{ScheduleExpression: "rate(10 days)", Duration: "90m"}, field: "rotationRules.duration", says: "1h to 24h"},
		{rules: Rules{ScheduleExpression: "rate(10 days)", Duration: "+3h"}, field: "rotationRules.duration", says: "1h to 24h"},
		{rules: Rules{ScheduleExpression: "rate(6 hours)", Duration: "6h"}},
		{rules: Rules{ScheduleExpression: "rate(6 hours)", Duration: "7h"}, field: "rotationRules.duration", says: "into the next one"},
		{rules: Rules{ScheduleExpression: "cron(0 20 * * ? *)", Duration: "4h"}},
		{rules: Rules{ScheduleExpression: "cron(0 20 * * ? *)", Duration: "5h"}, field: "rotationRules.duration", says: "next UTC day"},
		{rules: Rules{ScheduleExpression: "cron(0 4/12 * * ? *)", Duration: "8h"}},
		{rules: Rules{ScheduleExpression: "cron(0 4/12 * * ? *)", Duration: "9h"}, field: "rotationRules.duration", says: "opening at 16:00 UTC would run into the next UTC day"},
		{rules: Rules{ScheduleExpression: "cron(0 2/10 * * ? *)", Duration: "2h"}},
		{rules: Rules{ScheduleExpression: "cron(0 2/10 * * ? *)", Duration: "3h"}, field: "rotationRules.duration", says: "into the next UTC day"},
		{rules: Rules{ScheduleExpression: "cron(0 0,6,12 * * ? *)", Duration: "6h"}},
		{rules: Rules{ScheduleExpression: "cron(0 0,5,12 * * ? *)", Duration: "6h"}, field: "rotationRules.duration", says: "into the next one, 5 hours later"},
	} {
		err := tc.rules.Check("rotationRules")
		if tc.field == "" {
			if err != nil {
				t.Errorf("%+v: %v", tc.rules, err)
			}
			continue
		}
		if errcode.Of(err) != errcode.Invalid || errcode.FieldOf(err) != tc.field || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%+v: got %v (field %q), want %s saying %q", tc.rules, err, errcode.FieldOf(err), tc.field, tc.says)
		}
	}
}

func TestParseScheduleHours(t *testing.T) {
	for expr, want := range map[string]string{
		"cron(0 4/12 * * ? *)":     "4,16",
		"cron(0 */6 * * ? *)":      "0,6,12,18",
		"cron(0 1-9/4,20 * * ? *)": "1,5,9,20",
		"cron(0 8 1/7 * ? *)":      "8",
		"rate(30 days)":            "0",
	} {
		s, err := ParseSchedule(expr, "x")
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		var got []string
		for _, h := range s.Hours {
			got = append(got, strconv.Itoa(h))
		}
		if strings.Join(got, ",") != want {
			t.Errorf("%s opens windows at %v, want %s", expr, got, want)
		}
	}
}

// TestStuck: a version AWSPENDING past its window blocks the next rotation;
// one inside it is a rotation under way.
func TestStuck(t *testing.T) {
	made := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name  string
		rules *Rules
		after time.Duration
		want  bool
	}{
		{"a 3h window, inside", &Rules{ScheduleExpression: "cron(0 4 * * ? *)", Duration: "3h"}, 2*time.Hour + 59*time.Minute, false},
		{"a 3h window, past", &Rules{ScheduleExpression: "cron(0 4 * * ? *)", Duration: "3h"}, 3*time.Hour + time.Minute, true},
		{"days without a window: a day", &Rules{AutomaticallyAfterDays: 30}, 23 * time.Hour, false},
		{"days without a window, past a day", &Rules{AutomaticallyAfterDays: 30}, 24*time.Hour + time.Minute, true},
		{"hours without a window: an hour", &Rules{ScheduleExpression: "rate(4 hours)"}, 61 * time.Minute, true},
		{"no rules", nil, 25 * time.Hour, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Stuck(made, tt.rules, made.Add(tt.after)); got != tt.want {
				t.Fatalf("Stuck after %v = %v, want %v", tt.after, got, tt.want)
			}
		})
	}
	if Stuck(time.Time{}, nil, made) {
		t.Fatal("a version of no known date is stuck")
	}
}
