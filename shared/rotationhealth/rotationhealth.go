// Package rotationhealth turns Secrets Manager's rotation outcomes into
// metrics: the RotationSucceeded, RotationFailed and RotationAbandoned
// events Secrets Manager writes to CloudTrail, which EventBridge delivers
// as "AWS Service Event via CloudTrail" with the secret's ARN in
// detail.additionalEventData.SecretId. A failure is otherwise silent until
// the next rotation fails with "A previous rotation isn't complete".
//
// It knows events as fields, never a Lambda type, and imports nothing of
// the provisioner's but metrics, secretstore, dbsecret and errcode.
package rotationhealth

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/dbcreds/provisioner/shared/dbsecret"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/metrics"
	"github.com/dbcreds/provisioner/shared/secretstore"
)

// The event's envelope as AWS sends it. Only AWS may put an event whose
// source starts with "aws.", so none of these can be forged through
// PutEvents; the secret must be this deployment's all the same.
const (
	Source      = "aws.secretsmanager"
	DetailType  = "AWS Service Event via CloudTrail"
	EventSource = "secretsmanager.amazonaws.com"
)

// outcomes are the events this records, by their CloudTrail name.
var outcomes = map[string]string{"RotationSucceeded": "Succeeded", "RotationFailed": "Failed", "RotationAbandoned": "Abandoned"}

// The secret's tags that say who made it and for which engine.
const (
	TagVia    = "provisioned-via"
	TagEngine = "provisioned-engine"
)

// Event is what a rotation event carries that the recorder reads.
type Event struct {
	Source, DetailType, Account, Region string
	Detail                              json.RawMessage
}

type detail struct {
	EventSource         string `json:"eventSource"`
	EventName           string `json:"eventName"`
	ErrorMessage        string `json:"errorMessage"`
	AdditionalEventData struct {
		SecretID string `json:"SecretId"`
	} `json:"additionalEventData"`
}

// Observation is what was recorded.
type Observation struct {
	Outcome   string
	SecretARN string
	Trigger   string
	Engine    string
	// Message is the rotation's error, for the log: Secrets Manager names
	// the step and the function, never the secret's value.
	Message string
	// DescribeError says why the secret's tags could not be read: the
	// outcome is recorded as of an unknown trigger and engine.
	DescribeError error
}

// Recorder records rotation outcomes of the secrets under one ARN prefix.
type Recorder struct {
	secrets secretstore.DescribeSecretAPI
	prefix  string // arn:<partition>:secretsmanager:<region>:<account>:secret:<SecretNamePrefix>
	account string
	out     io.Writer
	now     func() time.Time
}

// New returns a recorder of the secrets whose ARNs start with prefix, in
// account, describing them through secrets and writing metrics to out.
func New(secrets secretstore.DescribeSecretAPI, prefix, account string, out io.Writer) (*Recorder, error) {
	if secrets == nil || out == nil || !strings.HasPrefix(prefix, "arn:") || !strings.Contains(prefix, ":secret:") || account == "" {
		return nil, errcode.New(errcode.Internal, "the rotation health recorder needs a Secrets Manager client, a secret ARN prefix, the account and an output")
	}
	return &Recorder{secrets: secrets, prefix: prefix, account: account, out: out, now: time.Now}, nil
}

// Record records e. An event that is no rotation outcome of one of this
// deployment's secrets is refused (invalid) and records nothing.
func (r *Recorder) Record(ctx context.Context, e Event) (Observation, error) {
	var d detail
	if e.Source != Source || e.DetailType != DetailType || e.Account != r.account || json.Unmarshal(e.Detail, &d) != nil || d.EventSource != EventSource {
		return Observation{}, errcode.New(errcode.Invalid, "not a Secrets Manager service event of this account")
	}
	outcome, ok := outcomes[d.EventName]
	if !ok {
		return Observation{}, errcode.Invalidf("detail.eventName", "is %s, not a rotation outcome", errcode.Quote(d.EventName))
	}
	arn := d.AdditionalEventData.SecretID
	if !strings.HasPrefix(arn, r.prefix) {
		return Observation{}, errcode.Invalidf("detail.additionalEventData.SecretId", "names no secret under this deployment's prefix")
	}
	o := Observation{Outcome: outcome, SecretARN: arn, Trigger: "unknown", Engine: "unknown", Message: errcode.Clip(d.ErrorMessage)}
	// The dimensions come from tags, which anyone allowed TagResource may
	// set: only known values name a series (and the alarm sums every
	// trigger's, "unknown" included), and a secret that cannot be described
	// still counts. A failure is never left out of the alarm.
	sec, err := secretstore.Describe(ctx, r.secrets, arn)
	switch {
	case err == nil:
		if v := sec.Tags[TagVia]; slices.Contains(triggers, v) {
			o.Trigger = v
		}
		if v := sec.Tags[TagEngine]; slices.Contains(dbsecret.Names(), v) {
			o.Engine = v
		}
	case errors.Is(err, secretstore.ErrNotFound):
		// Deleted since.
	default:
		o.DescribeError = err
	}
	return o, metrics.WriteRotation(r.out, r.now(), metrics.Rotation{Outcome: o.Outcome, Trigger: o.Trigger, Engine: o.Engine})
}

// triggers are the provisioned-via values the metrics know.
var triggers = []string{"cloudformation", "http-api", "eventbridge"}
