package motoserver

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"
)

// TestCreateScheduleGroupKeepsOne: making a group that exists leaves its
// schedules, as the Scheduler does (moto alone would empty it).
func TestCreateScheduleGroupKeepsOne(t *testing.T) {
	if testing.Short() {
		t.Skip("needs moto_server")
	}
	m, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	ctx, env := context.Background(), m.Env()
	if err := CreateScheduleGroup(ctx, env, "us-east-1", "group"); err != nil {
		t.Fatal(err)
	}
	client := SchedulerClient(env, "us-east-1")
	_, err = client.CreateSchedule(ctx, &scheduler.CreateScheduleInput{Name: aws.String("kept"), GroupName: aws.String("group"),
		ScheduleExpression: aws.String("at(2030-01-01T00:00:00)"), FlexibleTimeWindow: &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff},
		Target: &types.Target{Arn: aws.String("arn:aws:lambda:us-east-1:123456789012:function:f"), RoleArn: aws.String("arn:aws:iam::123456789012:role/r")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := CreateScheduleGroup(ctx, env, "us-east-1", "group"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String("kept"), GroupName: aws.String("group")}); err != nil {
		t.Fatalf("the schedule is gone: %v", err)
	}
}
