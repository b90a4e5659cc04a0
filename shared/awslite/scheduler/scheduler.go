// Package scheduler is the part of Amazon EventBridge Scheduler the
// functions use (CreateSchedule, UpdateSchedule, DeleteSchedule), with the
// SDK's method signatures and types (service/scheduler/types) but not its
// client package: see awslite. A schedule's target is a Lambda function:
// parameters for other kinds of target are refused, never dropped.
package scheduler

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"github.com/dbcreds/provisioner/shared/awslite"
)

// Options are the client's settings.
type Options = awslite.Options

// Client calls EventBridge Scheduler.
type Client struct{ c *awslite.Client }

// New builds a client; it calls nothing.
func New(o Options) *Client {
	return &Client{awslite.New(awslite.Service{ID: "Scheduler", SigningName: "scheduler", Endpoint: "scheduler", Errors: typedError}, o)}
}

type CreateScheduleInput struct {
	FlexibleTimeWindow         *types.FlexibleTimeWindow
	Name                       *string
	ScheduleExpression         *string
	Target                     *types.Target
	ActionAfterCompletion      types.ActionAfterCompletion
	ClientToken                *string
	Description                *string
	EndDate                    *time.Time
	GroupName                  *string
	KmsKeyArn                  *string
	ScheduleExpressionTimezone *string
	StartDate                  *time.Time
	State                      types.ScheduleState
}

type CreateScheduleOutput struct {
	ScheduleArn *string
}

// UpdateScheduleInput replaces every part of a schedule, as the API does.
type UpdateScheduleInput CreateScheduleInput

type UpdateScheduleOutput struct {
	ScheduleArn *string
}

type DeleteScheduleInput struct {
	Name        *string
	ClientToken *string
	GroupName   *string
}

type DeleteScheduleOutput struct{}

// CreateSchedule makes a schedule.
func (c *Client) CreateSchedule(ctx context.Context, params *CreateScheduleInput, optFns ...func(*Options)) (*CreateScheduleOutput, error) {
	var out CreateScheduleOutput
	if err := c.put(ctx, "CreateSchedule", http.MethodPost, params, &out.ScheduleArn, optFns); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateSchedule replaces a schedule.
func (c *Client) UpdateSchedule(ctx context.Context, params *UpdateScheduleInput, optFns ...func(*Options)) (*UpdateScheduleOutput, error) {
	var out UpdateScheduleOutput
	if err := c.put(ctx, "UpdateSchedule", http.MethodPut, (*CreateScheduleInput)(params), &out.ScheduleArn, optFns); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteSchedule deletes a schedule.
func (c *Client) DeleteSchedule(ctx context.Context, params *DeleteScheduleInput, optFns ...func(*Options)) (*DeleteScheduleOutput, error) {
	if params == nil || !isName(aws.ToString(params.Name)) {
		return nil, errors.New("DeleteSchedule: Name must be 1 to 64 of 0-9, a-z, A-Z, -, _ and .")
	}
	token, err := clientToken(params.ClientToken)
	if err != nil {
		return nil, err
	}
	query := url.Values{"clientToken": {token}}
	if params.GroupName != nil {
		query.Set("groupName", *params.GroupName)
	}
	if err := c.c.REST(ctx, "DeleteSchedule", http.MethodDelete, "/schedules/"+*params.Name, query, nil, nil, optFns...); err != nil {
		return nil, err
	}
	return &DeleteScheduleOutput{}, nil
}

// put sends a whole schedule: POST to create, PUT to update.
func (c *Client) put(ctx context.Context, op, method string, p *CreateScheduleInput, arn **string, optFns []func(*Options)) error {
	if p == nil || !isName(aws.ToString(p.Name)) {
		return fmt.Errorf("%s: Name must be 1 to 64 of 0-9, a-z, A-Z, -, _ and .", op)
	}
	body, err := wire(p)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	var out struct{ ScheduleArn *string }
	if err := c.c.REST(ctx, op, method, "/schedules/"+*p.Name, nil, body, &out, optFns...); err != nil {
		return err
	}
	*arn = out.ScheduleArn
	return nil
}

type (
	window struct {
		Mode                   types.FlexibleTimeWindowMode `json:",omitempty"`
		MaximumWindowInMinutes *int32                       `json:",omitempty"`
	}
	retryPolicy struct {
		MaximumEventAgeInSeconds *int32 `json:",omitempty"`
		MaximumRetryAttempts     *int32 `json:",omitempty"`
	}
	deadLetter struct {
		Arn *string `json:",omitempty"`
	}
	target struct {
		Arn              *string      `json:",omitempty"`
		RoleArn          *string      `json:",omitempty"`
		Input            *string      `json:",omitempty"`
		RetryPolicy      *retryPolicy `json:",omitempty"`
		DeadLetterConfig *deadLetter  `json:",omitempty"`
	}
	schedule struct {
		FlexibleTimeWindow         *window                     `json:",omitempty"`
		ScheduleExpression         *string                     `json:",omitempty"`
		Target                     *target                     `json:",omitempty"`
		ActionAfterCompletion      types.ActionAfterCompletion `json:",omitempty"`
		ClientToken                *string                     `json:",omitempty"`
		Description                *string                     `json:",omitempty"`
		EndDate                    *float64                    `json:",omitempty"`
		GroupName                  *string                     `json:",omitempty"`
		KmsKeyArn                  *string                     `json:",omitempty"`
		ScheduleExpressionTimezone *string                     `json:",omitempty"`
		StartDate                  *float64                    `json:",omitempty"`
		State                      types.ScheduleState         `json:",omitempty"`
	}
)

// wire is the body of a CreateSchedule or UpdateSchedule: every part but
// the name, which is in the path.
func wire(p *CreateScheduleInput) (*schedule, error) {
	token, err := clientToken(p.ClientToken)
	if err != nil {
		return nil, err
	}
	s := &schedule{
		ScheduleExpression: p.ScheduleExpression, ActionAfterCompletion: p.ActionAfterCompletion, ClientToken: &token,
		Description: p.Description, EndDate: seconds(p.EndDate), GroupName: p.GroupName, KmsKeyArn: p.KmsKeyArn,
		ScheduleExpressionTimezone: p.ScheduleExpressionTimezone, StartDate: seconds(p.StartDate), State: p.State,
	}
	if w := p.FlexibleTimeWindow; w != nil {
		s.FlexibleTimeWindow = &window{w.Mode, w.MaximumWindowInMinutes}
	}
	if t := p.Target; t != nil {
		if t.EcsParameters != nil || t.EventBridgeParameters != nil || t.KinesisParameters != nil || t.SageMakerPipelineParameters != nil || t.SqsParameters != nil {
			return nil, errors.New("only a Lambda function's target parameters (Arn, RoleArn, Input, RetryPolicy, DeadLetterConfig) can be sent")
		}
		s.Target = &target{Arn: t.Arn, RoleArn: t.RoleArn, Input: t.Input}
		if r := t.RetryPolicy; r != nil {
			s.Target.RetryPolicy = &retryPolicy{r.MaximumEventAgeInSeconds, r.MaximumRetryAttempts}
		}
		if d := t.DeadLetterConfig; d != nil {
			s.Target.DeadLetterConfig = &deadLetter{d.Arn}
		}
	}
	return s, nil
}

// isName is the API's rule for a schedule's name; it also keeps the name
// one segment of the path.
func isName(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func seconds(t *time.Time) *float64 {
	if t == nil {
		return nil
	}
	s := float64(t.UnixMilli()) / 1000
	return &s
}

// clientToken is the caller's token, or a new random one, as the SDK fills
// it: the same for every attempt of one call, so a retried call after a
// lost answer is the same request.
func clientToken(given *string) (string, error) {
	if given != nil {
		return *given, nil
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:]), nil
}

// typedError is the SDK's error type for the codes callers tell apart,
// matched as the SDK matches them, case aside.
func typedError(code, message string, _ []byte) error {
	m := aws.String(message)
	switch strings.ToLower(code) {
	case "conflictexception":
		return &types.ConflictException{Message: m}
	case "resourcenotfoundexception":
		return &types.ResourceNotFoundException{Message: m}
	case "validationexception":
		return &types.ValidationException{Message: m}
	case "throttlingexception":
		return &types.ThrottlingException{Message: m}
	case "servicequotaexceededexception":
		return &types.ServiceQuotaExceededException{Message: m}
	case "internalserverexception":
		return &types.InternalServerException{Message: m}
	}
	return nil
}
