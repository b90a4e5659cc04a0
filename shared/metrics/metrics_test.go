package metrics

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestWrite(t *testing.T) {
	now := time.UnixMilli(1795456800123)
	for _, tc := range []struct {
		inv        Invocation
		values     map[string]float64
		dimensions [][]string
	}{
		{Invocation{Trigger: "http-api", Created: true, Duration: 1500 * time.Microsecond},
			map[string]float64{"Requests": 1, "SecretsCreated": 1, "Replays": 0, "SecretsDeleted": 0, "Failures": 0, "Duration": 1.5}, [][]string{{"Trigger"}}},
		{Invocation{Trigger: "eventbridge", Created: true, Replayed: true},
			map[string]float64{"Requests": 1, "SecretsCreated": 0, "Replays": 1, "Failures": 0}, [][]string{{"Trigger"}}},
		{Invocation{Trigger: "cloudformation", Deleted: true},
			map[string]float64{"SecretsDeleted": 1, "Failures": 0}, [][]string{{"Trigger"}}},
		{Invocation{Trigger: "cloudformation", ErrorCode: "invalid"},
			map[string]float64{"Requests": 1, "SecretsCreated": 0, "Failures": 1}, [][]string{{"Trigger"}, {"Trigger", "ErrorCode"}}},
	} {
		var buf bytes.Buffer
		if err := Write(&buf, now, tc.inv); err != nil {
			t.Fatal(err)
		}
		if bytes.Count(buf.Bytes(), []byte("\n")) != 1 {
			t.Fatalf("not one line: %q", buf.String())
		}
		var line struct {
			AWS struct {
				Timestamp         int64
				CloudWatchMetrics []struct {
					Namespace  string
					Dimensions [][]string
					Metrics    []struct{ Name, Unit string }
				}
			} `json:"_aws"`
			Trigger, ErrorCode string
		}
		if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		var raw map[string]any
		json.Unmarshal(buf.Bytes(), &raw)
		d := line.AWS.CloudWatchMetrics[0]
		if line.AWS.Timestamp != now.UnixMilli() || d.Namespace != Namespace || !reflect.DeepEqual(d.Dimensions, tc.dimensions) ||
			line.Trigger != tc.inv.Trigger || line.ErrorCode != tc.inv.ErrorCode {
			t.Fatalf("%+v: %s", tc.inv, buf.String())
		}
		// Every declared metric has a value, and every dimension a member.
		for _, m := range d.Metrics {
			if _, ok := raw[m.Name].(float64); !ok {
				t.Errorf("metric %s has no value in %s", m.Name, buf.String())
			}
		}
		for _, set := range d.Dimensions {
			for _, dim := range set {
				if s, _ := raw[dim].(string); s == "" {
					t.Errorf("dimension %s has no value", dim)
				}
			}
		}
		for name, want := range tc.values {
			if raw[name] != want {
				t.Errorf("%+v: %s = %v, want %v", tc.inv, name, raw[name], want)
			}
		}
	}
}
