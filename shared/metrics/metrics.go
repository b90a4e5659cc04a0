// Package metrics writes each invocation's metrics as one line of
// CloudWatch Embedded Metric Format (EMF): a JSON object on the function's
// output, which CloudWatch Logs turns into metrics. No API call, no client,
// nothing at init.
//
// Namespace dbcreds/provisioner; every metric by Trigger (cloudformation,
// http-api, eventbridge), and a failure's also by Trigger and ErrorCode:
//
//	Requests        Count         every invocation
//	SecretsCreated  Count         a secret this invocation created
//	Replays         Count         an answer repeated for a retried request
//	SecretsDeleted  Count         a secret deleted (custom resource Delete, HTTP DELETE)
//	Failures        Count         a request that failed, with its ErrorCode
//	Duration        Milliseconds  the invocation's work
//
// A line holds only these numbers and the two dimensions: never a name, a
// value or an identity. It imports nothing of the provisioner's.
package metrics

import (
	"encoding/json"
	"io"
	"time"
)

// Namespace is the metrics' CloudWatch namespace.
const Namespace = "dbcreds/provisioner"

// Invocation is what one invocation did.
type Invocation struct {
	Trigger   string
	Created   bool
	Replayed  bool
	Deleted   bool
	ErrorCode string // "" when the request succeeded
	Duration  time.Duration
}

type metric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

var definitions = []metric{
	{"Requests", "Count"}, {"SecretsCreated", "Count"}, {"Replays", "Count"},
	{"SecretsDeleted", "Count"}, {"Failures", "Count"}, {"Duration", "Milliseconds"},
}

// Write writes inv's EMF line to w, as of now.
func Write(w io.Writer, now time.Time, inv Invocation) error {
	dimensions := [][]string{{"Trigger"}}
	if inv.ErrorCode != "" {
		dimensions = append(dimensions, []string{"Trigger", "ErrorCode"})
	}
	line := map[string]any{
		"_aws": map[string]any{
			"Timestamp": now.UnixMilli(),
			"CloudWatchMetrics": []map[string]any{{
				"Namespace": Namespace, "Dimensions": dimensions, "Metrics": definitions,
			}},
		},
		"Trigger":        inv.Trigger,
		"Requests":       1,
		"SecretsCreated": count(inv.Created && !inv.Replayed),
		"Replays":        count(inv.Replayed),
		"SecretsDeleted": count(inv.Deleted),
		"Failures":       count(inv.ErrorCode != ""),
		"Duration":       float64(inv.Duration.Microseconds()) / 1000,
	}
	if inv.ErrorCode != "" {
		line["ErrorCode"] = inv.ErrorCode
	}
	b, err := json.Marshal(line)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func count(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Rotation is one rotation outcome Secrets Manager reported for a secret
// the provisioner made: Outcome is Succeeded, Failed or Abandoned; Trigger
// and Engine are the secret's (its provenance and engine tags, "unknown"
// when it has none).
type Rotation struct {
	Outcome string
	Trigger string
	Engine  string
}

// WriteRotation writes r's EMF line to w, as of now: RotationSucceeded,
// RotationFailed and RotationAbandoned (Count, one of them 1), by Trigger
// and Engine, and by Trigger alone, which the failures alarm sums.
func WriteRotation(w io.Writer, now time.Time, r Rotation) error {
	names := []string{"RotationSucceeded", "RotationFailed", "RotationAbandoned"}
	defs := make([]metric, len(names))
	line := map[string]any{"Trigger": r.Trigger, "Engine": r.Engine}
	for i, n := range names {
		defs[i] = metric{n, "Count"}
		line[n] = count(n == "Rotation"+r.Outcome)
	}
	line["_aws"] = map[string]any{
		"Timestamp": now.UnixMilli(),
		"CloudWatchMetrics": []map[string]any{{
			"Namespace": Namespace, "Dimensions": [][]string{{"Trigger", "Engine"}, {"Trigger"}}, "Metrics": defs,
		}},
	}
	b, err := json.Marshal(line)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
