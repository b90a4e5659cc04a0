// Package burst sends a burst of EventBridge requests through the real
// bootstrap, as Lambda would with a reserved concurrency: a fixed number of
// function instances, each taking the next event when it is done (the rest
// wait in Lambda's queue, where waiting is no attempt). Secrets Manager is
// moto behind a proxy that answers with the real service's latency and
// throttles CreateSecret above its quota.
//
// It imports only invoke and faultproxy.
package burst

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/local/emulate/invoke"
	"github.com/dbcreds/provisioner/local/testenv/faultproxy"
)

// Options describe a burst.
type Options struct {
	Template, Bootstrap string            // template.yaml and the EventBridge function's bootstrap
	Env                 map[string]string // moto's environment
	// ReadEndpoint is where the run's secrets are read back from, when not
	// Env's Secrets Manager: the reads are the test's, not the function's.
	ReadEndpoint string
	Events       int           // how many requests at once
	Concurrency  int           // function instances: the reserved concurrency
	Quota        int           // CreateSecret calls a second the service allows
	Latency      time.Duration // how long each Secrets Manager call takes
	Name         string        // secret names are Name-<n>
	Event        []byte        // the sample event the requests are made from
	// ParameterOverrides are the template parameters the function runs with.
	ParameterOverrides map[string]string
	// User, when set, makes every request ask for a database user too.
	User *User
	Logs io.Writer // the functions' own output; discarded when nil
}

// User is the database the requests make their users in.
type User struct {
	MasterSecretARN string // the master secret, which names the host and port
	Database        string
	Prefix          string // usernames are Prefix<n>
}

// Result is what the burst did.
type Result struct {
	FirstDeliveryFailures []string // events whose one delivery failed, with the error type
	Secrets               int      // names holding exactly one secret of one version
	Throttled             int      // CreateSecret calls the proxy throttled
	Elapsed               time.Duration
	Calls                 map[string]int // Secrets Manager calls, by operation
}

// Run sends the burst and checks what it made.
func Run(ctx context.Context, opts Options) (Result, error) {
	proxy, err := faultproxy.Start(opts.Env["AWS_ENDPOINT_URL_SECRETS_MANAGER"], faultproxy.RateLimit("CreateSecret", opts.Quota))
	if err != nil {
		return Result{}, err
	}
	defer proxy.Close()
	proxy.Latency = func(string) time.Duration { return opts.Latency }
	env := map[string]string{}
	for k, v := range opts.Env {
		env[k] = v
	}
	env["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = proxy.URL

	events := make(chan int, opts.Events)
	for i := 0; i < opts.Events; i++ {
		events <- i
	}
	close(events)
	var mu sync.Mutex
	var res Result
	var wg sync.WaitGroup
	start := time.Now()
	errs := make(chan error, opts.Concurrency)
	shared := &sharedLog{w: opts.Logs}
	for c := 0; c < opts.Concurrency; c++ {
		fn, err := invoke.Start(invoke.Options{Template: opts.Template, Function: "EventBridgeFunction", Bootstrap: opts.Bootstrap, Env: env,
			ParameterOverrides: opts.ParameterOverrides, Logs: shared.line()})
		if err != nil {
			return Result{}, err
		}
		defer fn.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range events {
				out, err := fn.Invoke(ctx, eventFor(opts, i))
				switch {
				case err != nil:
					errs <- err
					return
				case out.Error != nil:
					mu.Lock()
					res.FirstDeliveryFailures = append(res.FirstDeliveryFailures, fmt.Sprintf("%s-%d: %s", opts.Name, i, out.Error.Type))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	select {
	case err := <-errs:
		return res, err
	default:
	}
	res.Throttled = proxy.Faults("CreateSecret", faultproxy.Throttle)
	res.Calls = map[string]int{}
	for _, op := range []string{"CreateSecret", "DescribeSecret", "GetSecretValue", "PutSecretValue", "RotateSecret", "TagResource", "UpdateSecretVersionStage", "PutResourcePolicy", "ListSecretVersionIds", "UpdateSecret"} {
		if n := proxy.Attempts(op); n > 0 {
			res.Calls[op] = n
		}
	}
	res.Secrets, err = countSecrets(ctx, opts)
	return res, err
}

func eventFor(opts Options, i int) []byte {
	var e map[string]any
	json.Unmarshal(opts.Event, &e)
	e["id"] = fmt.Sprintf("burst-%s-%d", opts.Name, i)
	detail, _ := e["detail"].(map[string]any)
	detail["name"] = fmt.Sprintf("%s-%d", opts.Name, i)
	delete(detail, "replicaRegions")
	if u := opts.User; u != nil {
		delete(detail, "host")
		detail["engine"], detail["dbname"], detail["masterSecretArn"] = "postgres", u.Database, u.MasterSecretARN
		detail["username"], detail["createDatabaseUser"] = fmt.Sprintf("%s%d", u.Prefix, i), true
	}
	b, _ := json.Marshal(e)
	return b
}

// countSecrets counts the names that hold exactly one secret of one
// version: one secret each, nothing made twice.
func countSecrets(ctx context.Context, opts Options) (int, error) {
	readEndpoint := opts.ReadEndpoint
	if readEndpoint == "" {
		readEndpoint = opts.Env["AWS_ENDPOINT_URL_SECRETS_MANAGER"]
	}
	client := secretsmanager.New(secretsmanager.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(readEndpoint),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	n := 0
	for i := 0; i < opts.Events; i++ {
		out, err := client.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(fmt.Sprintf("%s-%d", opts.Name, i))})
		if err == nil && len(out.Versions) == 1 {
			n++
		}
	}
	return n, nil
}

// sharedLog is one writer that many instances log to: each instance's
// output goes in whole lines, one at a time, never interleaved mid-line.
type sharedLog struct {
	mu sync.Mutex
	w  io.Writer
}

// line is a writer for one instance.
func (s *sharedLog) line() io.Writer {
	if s.w == nil {
		return nil
	}
	return &lineWriter{log: s}
}

type lineWriter struct {
	log     *sharedLog
	pending []byte
}

// Write keeps a line's start until its end arrives; the one lock also
// covers an instance's stdout and stderr writing at once.
func (l *lineWriter) Write(p []byte) (int, error) {
	l.log.mu.Lock()
	defer l.log.mu.Unlock()
	l.pending = append(l.pending, p...)
	end := bytes.LastIndexByte(l.pending, '\n')
	if end < 0 {
		return len(p), nil
	}
	_, err := l.log.w.Write(l.pending[:end+1])
	l.pending = append(l.pending[:0], l.pending[end+1:]...)
	return len(p), err
}
