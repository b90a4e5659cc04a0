// Command invoke runs one function's built bootstrap locally against a local
// Secrets Manager: the stand-in for sam local invoke on a machine without
// Docker or the SAM CLI.
//
//	go run ./local/cmd/invoke -function CustomResourceFunction -event events/custom-resource-create.json \
//	    -bootstrap bin/CustomResourceFunction/bootstrap
//
// When AWS_ENDPOINT_URL_SECRETS_MANAGER is not set it starts moto_server on a
// free loopback port and stops it on exit. It prints the function's response,
// what CloudFormation would have received, and the stored secret read back
// with its password masked. It exits 0 when the function answered, whatever
// it answered (a sample that is refused shows the refusal), 1 when the
// function could not start, 2 when this command failed.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/local/emulate/invoke"
	"github.com/dbcreds/provisioner/local/emulate/samtemplate"
	"github.com/dbcreds/provisioner/local/testenv/dbserver"
	"github.com/dbcreds/provisioner/local/testenv/motoserver"
)

func main() {
	// Ctrl-C, kill and a closed terminal end the invocation, the function
	// and moto (in its own process group, out of the terminal's reach)
	// before the command exits.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	code, err := run(ctx)
	interrupted := ctx.Err() != nil // before stop, which ends ctx too
	stop()
	switch {
	case interrupted:
		fmt.Fprintln(os.Stderr, "invoke: interrupted; the function and the local Secrets Manager are stopped")
		os.Exit(130)
	case err != nil:
		fmt.Fprintln(os.Stderr, "invoke:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

func run(ctx context.Context) (int, error) {
	templatePath := flag.String("template", "template.yaml", "the SAM template")
	function := flag.String("function", "CustomResourceFunction", "the function's logical id")
	eventPath := flag.String("event", "", "the event file (default: "+liveEvent+" where PostgreSQL is installed, else events/custom-resource-create.json)")
	bootstrap := flag.String("bootstrap", "", "the built bootstrap (default bin/<function>/bootstrap)")
	overrides := flag.String("parameter-overrides", "", `template parameters, as sam takes them: Key=Value Key2="v 2"`)
	region := flag.String("region", "us-east-1", "the Region the function runs in")
	timeout := flag.Duration("timeout", 0, "replaces the template's function timeout (e.g. 5s)")
	state := flag.String("moto-state", "bin/moto-endpoint", "where make moto records the local Secrets Manager it keeps")
	flag.Parse()
	if *bootstrap == "" {
		*bootstrap = "bin/" + *function + "/bootstrap"
	}
	if *eventPath == "" {
		*eventPath = "events/custom-resource-create.json"
		if *function == "CustomResourceFunction" && dbserver.PostgresInstalled() {
			*eventPath = liveEvent
		}
	}
	params, err := samtemplate.ParseOverrides(*overrides)
	if err != nil {
		return 0, err
	}
	event, err := os.ReadFile(*eventPath)
	if err != nil {
		return 0, err
	}

	env, origin, stop, err := motoserver.ForLocalRun(*state)
	if err != nil {
		return 0, err
	}
	defer stop()
	if ctx.Err() != nil {
		return 0, nil
	}
	// showSecret reads the secret back from the same place.
	for k, v := range env {
		if err := os.Setenv(k, v); err != nil {
			return 0, err
		}
	}
	endpoint := env["AWS_ENDPOINT_URL_SECRETS_MANAGER"]
	switch origin {
	case motoserver.StartedForRun:
		fmt.Fprintf(os.Stderr, "== started moto_server at %s (stopped on exit; run make moto in another terminal to keep what runs make)\n", endpoint)
	case motoserver.FromMakeMoto:
		fmt.Fprintf(os.Stderr, "== using the local Secrets Manager make moto keeps at %s\n", endpoint)
	default:
		fmt.Fprintf(os.Stderr, "== using Secrets Manager at %s\n", endpoint)
	}

	opts := invoke.Options{
		Template: *templatePath, Function: *function, Bootstrap: *bootstrap, Event: event,
		ParameterOverrides: params, Region: *region, Env: env, Logs: os.Stderr, Timeout: *timeout,
	}
	if opts.Event, err = withItsSecret(ctx, opts); err != nil {
		return 0, err
	}
	var live *liveDatabase
	if opts.Event, live, err = withLiveDatabase(ctx, opts.Event, *region); err != nil {
		return 0, err
	}
	if live != nil {
		defer live.server.Stop()
	}
	fmt.Fprintf(os.Stderr, "== invoking %s with %s; the function's log follows\n", *function, *eventPath)
	out, err := invoke.Run(ctx, opts)
	if err != nil || ctx.Err() != nil {
		return 0, err
	}
	failed := false
	if out.InitError != nil {
		section("init error")
		printJSON(out.InitError)
		fmt.Println("\n== outcome: the function could not start (see its log above)")
		return 1, nil
	}
	if out.Error != nil {
		section("function error (request " + out.RequestID + ")")
		printJSON(out.Error)
		failed = true
	} else {
		section("function response (request " + out.RequestID + ", " + out.Duration.Round(1e6).String() + ")")
		fmt.Println(indent(out.Response))
	}
	if out.ResponseURL != "" {
		section("CloudFormation received (PUT to the ResponseURL)")
		if out.CloudFormation == nil {
			fmt.Println("nothing: the stack would wait until CloudFormation's timeout")
			failed = true
		} else {
			fmt.Println(indent(out.CloudFormation))
			var answer struct{ Status string }
			json.Unmarshal(out.CloudFormation, &answer)
			failed = failed || answer.Status != "SUCCESS"
		}
	}
	if arn := secretARN(out); arn != "" && httpMethod(opts.Event) == "DELETE" {
		showDeletion(ctx, arn, *region)
	} else if arn != "" {
		if err := showSecret(arn, *region, generatedKey(event)); err != nil {
			return 0, err
		}
		showTagsAndReplicas(ctx, arn, *region)
		if live != nil && !failed {
			if err := live.show(ctx, arn, *region); err != nil {
				return 0, err
			}
		}
		fmt.Printf("\n== read it back: %s\n", motoserver.ReadBack(endpoint, *region, arn))
		if origin == motoserver.StartedForRun {
			fmt.Println("   (this run's moto stops now; with make moto running in another terminal, what a run makes stays there to read)")
		}
	} else if id := deletedID(opts.Event); id != "" {
		showDeletion(ctx, id, *region)
	}
	// A refusal is the function's answer to this event, shown above, not a
	// failure of this command: make invoke ends well either way.
	if failed {
		fmt.Println("\n== outcome: the function refused the request (see its answer above)")
	} else {
		fmt.Println("\n== outcome: the function did what the event asked")
	}
	return 0, nil
}

// showTagsAndReplicas prints the tags and replicas the secret now has.
func showTagsAndReplicas(ctx context.Context, arn, region string) {
	s, err := lookUp(ctx, region, arn)
	if err != nil || s == nil {
		return
	}
	section("tags and replicas applied")
	var tags []string
	for _, t := range s.Tags {
		tags = append(tags, aws.ToString(t.Key)+"="+aws.ToString(t.Value))
	}
	sort.Strings(tags)
	fmt.Println("tags:     " + strings.Join(tags, ", "))
	var replicas []string
	for _, r := range s.ReplicationStatus {
		replicas = append(replicas, aws.ToString(r.Region)+" ("+string(r.Status)+")")
	}
	if len(replicas) == 0 {
		replicas = []string{"none"}
	}
	fmt.Println("replicas: " + strings.Join(replicas, ", "))
}

// secretARN finds the secret the invocation created: in CloudFormation's
// Data, the HTTP API's body, or the EventBridge result.
func secretARN(out *invoke.Outcome) string {
	var answer struct{ Data struct{ Arn string } }
	if json.Unmarshal(out.CloudFormation, &answer) == nil && answer.Data.Arn != "" {
		return answer.Data.Arn
	}
	var result struct {
		ARN  string `json:"arn"`
		Body string `json:"body"`
	}
	if json.Unmarshal(out.Response, &result) != nil {
		return ""
	}
	if result.ARN == "" && result.Body != "" {
		json.Unmarshal([]byte(result.Body), &result)
	}
	return result.ARN
}

// showSecret reads the secret back, as its users will, and prints it with
// the generated values masked.
func showSecret(arn, region, generated string) error {
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion(region))
	if err != nil {
		return err
	}
	value, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(context.Background(),
		&secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return fmt.Errorf("reading the secret back: %w", err)
	}
	section("stored secret " + aws.ToString(value.Name) + " (version " + aws.ToString(value.VersionId) + ", password masked)")
	fmt.Println(masked(aws.ToString(value.SecretString), generated))
	return nil
}

// masked hides the password and the request's generateStringKey, keeping
// the stored key order; a secret that is not a JSON object is hidden whole.
func masked(secret, generated string) string {
	dec := json.NewDecoder(strings.NewReader(secret))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return `"********"`
	}
	var out bytes.Buffer
	out.WriteString("{")
	for dec.More() {
		t, err := dec.Token()
		var value json.RawMessage
		if err != nil || dec.Decode(&value) != nil {
			return `"********"`
		}
		key, _ := t.(string)
		if strings.EqualFold(key, "password") || (generated != "" && key == generated) {
			value = json.RawMessage(`"********"`)
		}
		if out.Len() > 1 {
			out.WriteString(",")
		}
		k, _ := json.Marshal(key)
		fmt.Fprintf(&out, "%s:%s", k, value)
	}
	out.WriteString("}")
	return indent(out.Bytes())
}

// generatedKey finds generateStringKey in a custom-resource, HTTP or
// EventBridge request, so that its value is masked too.
func generatedKey(event []byte) string {
	var e struct {
		ResourceProperties map[string]any
		Body               string `json:"body"`
		Detail             map[string]any
	}
	json.Unmarshal(event, &e)
	var body map[string]any
	json.Unmarshal([]byte(e.Body), &body)
	for _, props := range []map[string]any{e.ResourceProperties, body, e.Detail} {
		for k, v := range props {
			if s, ok := v.(string); ok && strings.EqualFold(k, "generateStringKey") {
				return s
			}
		}
	}
	return ""
}

func section(title string) { fmt.Printf("\n== %s\n", title) }

func printJSON(v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Println(string(b))
}

func indent(raw []byte) string {
	var buf bytes.Buffer
	if json.Indent(&buf, raw, "", "  ") != nil {
		return string(raw)
	}
	return buf.String()
}
