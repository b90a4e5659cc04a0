// Package callrate paces one operation's calls in this process, so that a
// function's instances together keep to a service's quota: with a
// reserved concurrency of n and a quota of q calls a second, each
// instance sends at most q/n a second, evenly spaced. A burst then runs at
// the quota however many instances it takes to cover the service's
// latency, and never throttles into failure.
//
// It imports nothing of the provisioner's.
package callrate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go/middleware"
)

// Pacer spaces calls at least an interval apart.
type Pacer struct {
	interval time.Duration
	mu       sync.Mutex
	next     time.Time // when the next call may go
	started  bool
}

// New paces calls at perSecond.
func New(perSecond float64) *Pacer {
	return &Pacer{interval: time.Duration(float64(time.Second) / perSecond)}
}

// Interval is the least time between two calls.
func (p *Pacer) Interval() time.Duration { return p.interval }

// Wait returns when the next call may go, or ctx's error first.
func (p *Pacer) Wait(ctx context.Context) error {
	p.mu.Lock()
	now := time.Now()
	if !p.started {
		// An instance's first call goes at a random point of its first
		// interval: instances that start together (a burst) then spread
		// their calls over the interval instead of sending them all at
		// once, every interval, and overrunning the quota in between.
		p.started = true
		p.next = now.Add(rand.N(min(p.interval, time.Second)))
	}
	at := p.next
	if at.Before(now) {
		at = now
	}
	p.next = at.Add(p.interval)
	p.mu.Unlock()
	d := time.Until(at)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Operation paces the attempts (retries too: each costs the quota) of one
// SDK operation, for a client's APIOptions.
func (p *Pacer) Operation(operation string) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Finalize.Insert(middleware.FinalizeMiddlewareFunc("callrate."+operation,
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				if middleware.GetOperationName(ctx) == operation {
					if err := p.Wait(ctx); err != nil {
						return middleware.FinalizeOutput{}, middleware.Metadata{}, err
					}
				}
				return next.HandleFinalize(ctx, in)
			}), "Retry", middleware.After)
	}
}

// Retryer is the retryer for a client one of whose operations p paces:
// the SDK's standard retryer (maxAttempts attempts, when above 0), which
// retries a throttled attempt after a short jitter, under half an
// interval, and p then sends it at this instance's next slot. The SDK
// would wait up to a second (its throttle base delay) and, in adaptive
// mode, slow the client below its pace for seconds more: time in which
// the instance's share of the quota goes unused, and which a burst never
// wins back. The pace already keeps the instances to the quota together.
// The client's other operations, unpaced, get the same short wait before
// a throttled retry (their quotas are far above a burst's needs); other
// errors back off as the SDK's standard mode does.
func (p *Pacer) Retryer(maxAttempts int) aws.Retryer {
	standard := retry.NewStandard()
	jitter := min(p.interval/2, 250*time.Millisecond)
	return retry.NewStandard(func(o *retry.StandardOptions) {
		if maxAttempts > 0 {
			o.MaxAttempts = maxAttempts
		}
		throttle := retry.IsErrorThrottles(o.Throttles)
		o.Backoff = retry.BackoffDelayerFunc(func(attempt int, err error) (time.Duration, error) {
			if throttle.IsErrorThrottle(err).Bool() {
				return rand.N(jitter + 1), nil
			}
			return standard.RetryDelay(attempt, err)
		})
	})
}

// FromEnvironment is the pace for one instance of a function whose
// environment names the account's quota (quotaVar, calls a second) and the
// function's reserved concurrency (concurrencyVar); nil, unpaced, when
// either is unset.
func FromEnvironment(getenv func(string) string, quotaVar, concurrencyVar string) (*Pacer, error) {
	q, n := getenv(quotaVar), getenv(concurrencyVar)
	if q == "" || n == "" {
		return nil, nil
	}
	quota, err := strconv.ParseFloat(q, 64)
	if err != nil || quota <= 0 || quota > 10000 {
		return nil, fmt.Errorf("%s %q: must be a number of calls a second above 0, at most 10000", quotaVar, q)
	}
	instances, err := strconv.Atoi(n)
	if err != nil || instances < 1 {
		return nil, fmt.Errorf("%s %q: must be a whole number of at least 1", concurrencyVar, n)
	}
	if quota/float64(instances) < 0.1 {
		return nil, fmt.Errorf("%s %s over %s %d leaves each instance under one CreateSecret in 10 seconds: lower the concurrency", quotaVar, q, concurrencyVar, instances)
	}
	return New(quota / float64(instances)), nil
}
