package expiry

import (
	"strings"

	"github.com/dbcreds/provisioner/shared/awsclient"
	"github.com/dbcreds/provisioner/shared/awslite/scheduler"
	"github.com/dbcreds/provisioner/shared/awsname"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/userledger"
)

// Environment variables the template sets.
const (
	EnvGroup      = "EXPIRY_SCHEDULE_GROUP"    // the stack's schedule group
	EnvRole       = "EXPIRY_SCHEDULER_ROLE"    // the role the Scheduler invokes functions with: its name
	EnvDeadLetter = "EXPIRY_DEAD_LETTER_QUEUE" // the queue of expiries the Scheduler could not deliver: its URL or name
	envAccount    = "ACCOUNT_ID"
)

// FromEnvironment builds the schedules from Lambda's environment, the
// Scheduler's endpoint from AWS_ENDPOINT_URL_SCHEDULER or
// AWS_ENDPOINT_URL; the function to schedule is this one, named by
// AWS_LAMBDA_FUNCTION_NAME. Building the client makes no call.
func FromEnvironment(getenv func(string) string, records *userledger.Ledger) (*Schedules, error) {
	s, err := awsclient.FromEnvironment(getenv)
	if err != nil {
		return nil, err
	}
	client := scheduler.New(scheduler.Options{Region: s.Region, Credentials: s.Credentials, BaseEndpoint: s.Endpoint("SCHEDULER"), Retryer: s.Retryer(), HTTPClient: s.HTTPClient()})
	account := strings.TrimSpace(getenv(envAccount))
	if !awsname.IsAccountID(account) || !awsname.IsRegion(s.Region) {
		return nil, errcode.New(errcode.Internal, "expiry needs the deployment's account (%s) and Region", envAccount)
	}
	partition := awsname.Partition(s.Region)
	settings := Settings{
		Group: strings.TrimSpace(getenv(EnvGroup)),
		// Lambda names the function; its ARN is in the deployment's
		// account and Region.
		Target: "arn:" + partition + ":lambda:" + s.Region + ":" + account + ":function:" + getenv("AWS_LAMBDA_FUNCTION_NAME"),
	}
	if role := strings.TrimSpace(getenv(EnvRole)); role != "" {
		settings.RoleARN = "arn:" + partition + ":iam::" + account + ":role/" + role
	}
	if queue := queueName(getenv(EnvDeadLetter)); queue != "" {
		settings.DeadLetterARN = "arn:" + partition + ":sqs:" + s.Region + ":" + account + ":" + queue
	}
	return New(client, records, settings)
}

// queueName is the name of the queue v names: a queue's URL
// (https://sqs.<region>.amazonaws.com/<account>/<name>, what a Ref to it
// is) or its name (what sam local makes of the Ref).
func queueName(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.LastIndexByte(v, '/'); i >= 0 {
		v = v[i+1:]
	}
	return v
}
