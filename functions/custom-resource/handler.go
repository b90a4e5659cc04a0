package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/dbcreds/provisioner/shared/dbgrants"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/metrics"
	"github.com/dbcreds/provisioner/shared/props"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/stack"
)

// event is CloudFormation's request with the properties kept as JSON, so
// that they are decoded once, by the request's own strict rules, rather
// than into maps and back.
type event struct {
	cfn.Event
	ResourceProperties    json.RawMessage `json:"ResourceProperties"`
	OldResourceProperties json.RawMessage `json:"OldResourceProperties"`
}

// lifecycle is the core's resource lifecycle.
type lifecycle interface {
	Create(ctx context.Context, res stack.Resource, r provision.Request) (provision.Result, error)
	Update(ctx context.Context, res stack.Resource, id string, old, now provision.Request) (provision.Result, error)
	Delete(ctx context.Context, res stack.Resource, id string, opts provision.DeleteOptions, r provision.Request) (skipped string, err error)
}

type handler struct {
	secrets   lifecycle
	responder responder
	// metrics receives each invocation's EMF line; nil writes none.
	metrics io.Writer
}

const (
	// idLogLength bounds the ids a log line repeats: a stack id is an ARN
	// of at most about 220 characters.
	idLogLength = 256
)

// deletionProperties are read on Delete, not part of the secret's request.
var deletionProperties = []string{"RecoveryWindowInDays", "ForceDeleteWithoutRecovery", "RetainDatabaseUser"}

// handle answers one CloudFormation request, always: on success, on error,
// on a panic, and when Secrets Manager is still busy close to the deadline,
// so a stack never waits out CloudFormation's hour. It returns an error only
// when the answer could not be delivered, so that Lambda retries the
// invocation; the retry is idempotent and delivers the same answer.
func (h *handler) handle(ctx context.Context, event event) error {
	// CloudFormation's ids run to a few hundred characters; anything longer
	// did not come from CloudFormation and is cut.
	log := slog.With("requestType", errcode.Clip(string(event.RequestType)), "stackId", errcode.ClipTo(event.StackID, idLogLength),
		"logicalResourceId", errcode.ClipTo(event.LogicalResourceID, idLogLength), "cfnRequestId", errcode.ClipTo(event.RequestID, idLogLength))
	start := time.Now()
	workCtx, cancel := workContext(ctx)
	defer cancel()
	resp, out := h.respond(workCtx, log, event)
	inv := metrics.Invocation{Trigger: "cloudformation", Created: event.RequestType == cfn.RequestCreate && out.err == nil,
		Replayed: out.replayed, Deleted: out.deleted}
	if out.err != nil {
		inv.ErrorCode = string(errcode.Public(out.err).Code)
	}
	defer func() {
		if h.metrics != nil {
			inv.Duration = time.Since(start)
			metrics.Write(h.metrics, time.Now(), inv)
		}
	}()
	body := fit(resp)
	log.InfoContext(ctx, "answering CloudFormation", "status", resp.Status,
		"physicalResourceId", errcode.ClipTo(resp.PhysicalResourceID, idLogLength), "reason", errcode.ClipTo(resp.Reason, maxResponseBytes))
	if err := h.send(ctx, event.ResponseURL, body); err != nil {
		log.ErrorContext(ctx, "could not deliver the answer to CloudFormation", "error", err)
		inv.ErrorCode = "response_not_delivered"
		// Lambda names the failure by this type; its retry delivers the
		// same answer.
		return messages.InvokeResponse_Error{Type: errorTypeNotDelivered, Message: "the answer could not be delivered to CloudFormation: " + err.Error()}
	}
	return nil
}

// workContext leaves room before the Lambda deadline to deliver the answer:
// a quarter of the time left, at least one second and at most five.
func workContext(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	reserve := min(5*time.Second, max(time.Second, time.Until(deadline)/4))
	return context.WithDeadline(ctx, deadline.Add(-reserve))
}

// answerMargin is ctx with its deadline a tenth earlier, by at least 100 ms
// and at most a second.
func answerMargin(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	margin := min(time.Second, max(100*time.Millisecond, time.Until(deadline)/10))
	return context.WithDeadline(ctx, deadline.Add(-margin))
}

type outcome struct {
	physicalID string
	data       map[string]any
	err        error
	replayed   bool // an earlier attempt's secret answered for
	deleted    bool // a Delete deleted a secret
}

// respond runs the request and builds the answer. The work runs apart so
// that neither a panic nor a call that outlives the deadline can keep the
// answer from being sent. Its own deadline comes a little earlier, so that
// work that runs out of time still answers with what it made (the secret's
// ARN, which the rollback's Delete then removes) before the answer must go.
func (h *handler) respond(ctx context.Context, log *slog.Logger, event event) (*cfn.Response, outcome) {
	work, cancel := answerMargin(ctx)
	defer cancel()
	done := make(chan outcome, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				log.ErrorContext(ctx, "panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				done <- outcome{err: errcode.New(errcode.Internal, "internal error")}
			}
		}()
		done <- h.run(work, event)
	}()
	var out outcome
	select {
	case out = <-done:
	case <-ctx.Done():
		out.err = errcode.New(errcode.Upstream, "Secrets Manager did not finish before the function's deadline; nothing more will be done for this request, retry the stack operation")
	}

	resp := cfn.NewResponse(&event.Event)
	resp.NoEcho = true // Data names the secret; keep it out of console output all the same
	resp.Status = cfn.StatusSuccess
	resp.PhysicalResourceID = out.physicalID
	resp.Data = out.data
	if out.err != nil {
		public := errcode.Public(out.err)
		log.ErrorContext(ctx, "request failed", "error", public)
		resp.Status = cfn.StatusFailed
		resp.Reason = reason(ctx, public)
		resp.Data = nil
	}
	if resp.PhysicalResourceID == "" {
		// A failed Create has no secret: the request id is no ARN, so the
		// Delete that follows touches nothing. Otherwise keep what we had.
		resp.PhysicalResourceID = event.PhysicalResourceID
		if resp.PhysicalResourceID == "" {
			resp.PhysicalResourceID = event.RequestID
		}
	}
	return resp, out
}

func (h *handler) run(ctx context.Context, event event) outcome {
	res := resource(ctx, event)
	switch event.RequestType {
	case cfn.RequestCreate:
		r, err := request(event.ResourceProperties)
		if err != nil {
			return outcome{err: err}
		}
		return answer(h.secrets.Create(ctx, res, r))
	case cfn.RequestUpdate:
		now, err := request(event.ResourceProperties)
		if err != nil {
			return outcome{err: err}
		}
		// The old properties were valid once; if they no longer read, the
		// update goes on as though nothing but the name were known.
		old, _ := request(event.OldResourceProperties)
		return answer(h.secrets.Update(ctx, res, event.PhysicalResourceID, old, now))
	case cfn.RequestDelete:
		opts, _ := deletion(event.ResourceProperties)
		// Properties that no longer read (a stack made by an older version)
		// still delete the secret; they only cannot say there is a user.
		r, _ := request(event.ResourceProperties)
		skipped, err := h.secrets.Delete(ctx, res, event.PhysicalResourceID, opts, r)
		if err == nil && skipped != "" {
			slog.InfoContext(ctx, "nothing deleted", "why", skipped, "physicalResourceId", errcode.ClipTo(event.PhysicalResourceID, idLogLength))
		}
		return outcome{physicalID: event.PhysicalResourceID, err: err, deleted: err == nil && skipped == ""}
	}
	return outcome{err: errcode.Invalidf("RequestType", "must be Create, Update or Delete, got %s", errcode.Quote(string(event.RequestType)))}
}

// maxReadersData is the longest Readers attribute Data carries.
const maxReadersData = 2048

func answer(result provision.Result, err error) outcome {
	if err != nil {
		// A secret that exists (its database user failed) is the resource's
		// all the same, so that the rollback's Delete removes it.
		return outcome{err: err, physicalID: result.ARN}
	}
	data := map[string]any{
		"Arn":             result.ARN,
		"Name":            result.Name,
		"VersionId":       result.VersionID,
		"Username":        result.Username,
		"RotationEnabled": strconv.FormatBool(result.Rotation != nil && result.Rotation.Enabled),
	}
	if u := result.DatabaseUser; u != nil {
		data["DatabaseUserPrivileges"] = u.Privileges
		data["DatabaseUserMemberOf"] = strings.Join(u.MemberOf, ",")
	}
	// CloudFormation takes an answer of 4096 bytes at most, Data included:
	// a long list of readers is left out rather than the answer.
	if readers := strings.Join(result.Readers, ","); readers != "" && len(readers) <= maxReadersData {
		data["Readers"] = readers
	}
	if result.Rotation != nil && result.Rotation.NextRotationDate != nil {
		data["NextRotationDate"] = result.Rotation.NextRotationDate.UTC().Format(time.RFC3339)
	}
	return outcome{physicalID: result.ARN, data: data, replayed: result.Replayed}
}

// resource identifies the stack resource: the generated-name base, the
// account, the idempotency key (the request id, repeated on Lambda's
// retries) and the provenance tags that let a rollback recognise the
// resource's own secret.
func resource(ctx context.Context, event event) stack.Resource {
	stackName := event.StackID
	if parts := strings.Split(event.StackID, "/"); len(parts) >= 2 {
		stackName = parts[1]
	}
	res := stack.Resource{
		NameBase:       stackName + "-" + event.LogicalResourceID,
		IdempotencyKey: event.StackID + "/" + event.LogicalResourceID + "/" + event.RequestID,
		Provenance: provision.Provenance{By: event.StackID + "#" + event.LogicalResourceID, Via: "cloudformation",
			Caller: dbgrants.Caller{Kind: dbgrants.KindStack, Name: stackName}},
	}
	// The stack's own account, from its id: the function ARN that sam local
	// invoke's emulator gives is invented (account 012345678912).
	if parts := strings.Split(event.StackID, ":"); len(parts) > 4 {
		res.Account = parts[4]
	}
	return res
}

// request decodes the resource properties, less ServiceToken and the
// deletion properties, which are checked here so that a stack cannot carry
// settings that would fail only at its deletion.
func request(properties json.RawMessage) (provision.Request, error) {
	if _, err := deletion(properties); err != nil {
		return provision.Request{}, err
	}
	var r provision.Request
	err := props.DecodeFields(properties, &r, func(key string) bool {
		return !strings.EqualFold(key, "ServiceToken") && !isDeletionProperty(key)
	})
	return r, err
}

func deletion(properties json.RawMessage) (provision.DeleteOptions, error) {
	var opts provision.DeleteOptions
	err := props.DecodeFields(properties, &opts, isDeletionProperty)
	if err == nil {
		err = opts.Check()
	}
	return opts, err
}

func isDeletionProperty(key string) bool {
	for _, p := range deletionProperties {
		if strings.EqualFold(key, p) {
			return true
		}
	}
	return false
}

// reason is what the stack's operator reads: the property in the template's
// own spelling and the rule, or the Secrets Manager error code; never
// internal details.
func reason(ctx context.Context, e *errcode.Error) string {
	text := e.Message
	if e.Field != "" {
		text = property(e.Field) + ": " + e.Message
	}
	if e.Code == errcode.Internal {
		if lc, ok := lambdacontext.FromContext(ctx); ok {
			text += " (see the function's log, request " + lc.AwsRequestID + ")"
		}
	}
	return text
}

// property spells a request field as a CloudFormation property:
// replicaRegions[0].kmsKeyId is ReplicaRegions[0].KmsKeyId.
func property(field string) string {
	parts := strings.Split(field, ".")
	for i, p := range parts {
		if strings.HasPrefix(p, "dbname") {
			p = "DbName" + strings.TrimPrefix(p, "dbname")
		}
		r := []rune(p)
		if len(r) > 0 {
			r[0] = unicode.ToUpper(r[0])
		}
		parts[i] = string(r)
	}
	return strings.Join(parts, ".")
}
