package motoserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"
)

// CreateScheduleGroup makes an EventBridge Scheduler schedule group at the
// Scheduler endpoint env names (AWS_ENDPOINT_URL_SCHEDULER), as a stack
// would have made it; one that exists is left. Without that endpoint it
// does nothing: local runs never make groups in a real account.
func CreateScheduleGroup(ctx context.Context, env map[string]string, region, name string) error {
	client := SchedulerClient(env, region)
	if client == nil {
		return nil
	}
	// Asked first: moto answers a second CreateScheduleGroup by emptying
	// the group, where the Scheduler answers ConflictException.
	_, err := client.GetScheduleGroup(ctx, &scheduler.GetScheduleGroupInput{Name: aws.String(name)})
	var missing *types.ResourceNotFoundException
	if err == nil || !errors.As(err, &missing) {
		if err != nil {
			return fmt.Errorf("reading the schedule group %s: %w", name, err)
		}
		return nil
	}
	_, err = client.CreateScheduleGroup(ctx, &scheduler.CreateScheduleGroupInput{Name: aws.String(name)})
	var exists *types.ConflictException
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("creating the schedule group %s: %w", name, err)
	}
	return nil
}

// SchedulerClient is a client of the Scheduler at the endpoint env names,
// with its credentials; nil without that endpoint.
func SchedulerClient(env map[string]string, region string) *scheduler.Client {
	endpoint := env["AWS_ENDPOINT_URL_SCHEDULER"]
	if endpoint == "" {
		return nil
	}
	return scheduler.New(scheduler.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], ""),
	})
}
