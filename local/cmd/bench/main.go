// Command bench measures what issue 7 budgets and writes BENCHMARKS.md:
// cold invocations of the real bootstrap against the Python peer, init
// against a hello-world function, warm invocation overhead and password
// throughput (Go benchmarks), binary sizes and peak memory. It exits 1 when
// a budget is missed. Run it with make bench.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/local/burst"
	"github.com/dbcreds/provisioner/local/emulate/invoke"
	"github.com/dbcreds/provisioner/local/emulate/samtemplate"
	"github.com/dbcreds/provisioner/local/testenv/dbserver"
	"github.com/dbcreds/provisioner/local/testenv/motoserver"
	"github.com/dbcreds/provisioner/shared/secretstore"
)

// Budgets, from issue 7.
const (
	maxColdRatio      = 0.10 // ours / Python, median of the pairs
	maxInitAboveHello = 2 * time.Millisecond
	maxWarmInvocation = 100 * time.Microsecond
	minPasswordsPerS  = 1_000_000
	maxBinaryBytes    = 10 << 20
	maxPeakRSSKiB     = 25 << 10
	// Issues 13 and 26: a cold Create with createDatabaseUser against the
	// floor.
	maxUserCreateRatio = 1.10
)

var functions = []string{"CustomResourceFunction", "HttpApiFunction", "EventBridgeFunction"}

type report struct {
	lines  []string
	failed []string
}

func (r *report) printf(format string, args ...any) {
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

// check records a budget's outcome.
func (r *report) check(what string, ok bool, measured, budget string) string {
	mark := "ok"
	if !ok {
		mark = "**missed**"
		r.failed = append(r.failed, what+": "+measured+" against "+budget)
	}
	return mark
}

func main() {
	runs := flag.Int("runs", 21, "cold invocations of each kind")
	count := flag.Int("count", 7, "runs of each Go benchmark; the median counts")
	out := flag.String("out", "BENCHMARKS.md", "where to write the results")
	flag.IntVar(&burstEvents, "events", 1000, "requests in each burst")
	flag.Func("latencies", "the bursts' latencies a call, comma-separated (default 50ms,150ms,500ms)", func(v string) error {
		burstLatencies = nil
		for _, f := range strings.Split(v, ",") {
			d, err := time.ParseDuration(strings.TrimSpace(f))
			if err != nil {
				return err
			}
			burstLatencies = append(burstLatencies, d)
		}
		return nil
	})
	flag.IntVar(&burstConcurrency, "concurrency", 0, "the bursts' EventConcurrency (default the template's)")
	flag.StringVar(&burstLogs, "logs", "", "a folder to keep each burst's function logs in")
	flag.Func("users", "bursts without users, with them, or both (default both)", func(v string) error {
		kinds, ok := map[string][]bool{"no": {false}, "yes": {true}, "both": {false, true}}[v]
		if !ok {
			return fmt.Errorf("no, yes or both, not %q", v)
		}
		burstUsers = kinds
		return nil
	})
	only := flag.String("only", "", "burst, user or init: measure that part alone and replace its section of the results")
	flag.Parse()
	r := &report{}
	if *only != "" {
		part, ok := parts[*only]
		if !ok {
			fmt.Fprintf(os.Stderr, "bench: -only takes burst, user or init, not %q\n", *only)
			os.Exit(2)
		}
		if err := part.measure(r, *runs); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(2)
		}
		fmt.Println(strings.Join(r.lines, "\n"))
		if err := replaceSection(*out, part.heading, "-only "+*only, r); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(2)
		}
		if len(r.failed) > 0 {
			os.Exit(1)
		}
		return
	}
	if err := run(r, *runs, *count); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if err := write(*out, r); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	fmt.Println(strings.Join(r.lines, "\n"))
	if len(r.failed) > 0 {
		fmt.Fprintln(os.Stderr, "\nbudgets missed:\n  "+strings.Join(r.failed, "\n  "))
		os.Exit(1)
	}
}

var burstEvents int

// failureCauses counts the causes the functions logged for failed
// requests, for a burst that had some.
func failureCauses(logs []byte) map[string]int {
	out := map[string]int{}
	for _, line := range bytes.Split(logs, []byte("\n")) {
		var l struct {
			Message string
			Error   struct{ Code, Message, Cause string }
		}
		if json.Unmarshal(line, &l) == nil && l.Message == "request failed" {
			out[l.Error.Code+": "+l.Error.Message+" ("+l.Error.Cause+")"]++
		}
	}
	return out
}

// userEvents is how many requests a burst with users sends: the database,
// not the quota, sets their pace, so fewer show it.
func userEvents(events int) int { return min(events, 300) }

// parts are what -only measures alone, for tuning, each with its heading
// in the results.
var parts = map[string]struct {
	heading string
	measure func(r *report, runs int) error
}{
	"burst": {"## Burst", burstOnly},
	"user":  {liveCredentialHeading, userOnly},
	"init":  {"## Init", initOnly},
}

// burstOnly measures the bursts alone.
func burstOnly(r *report, _ int) error {
	work, err := os.MkdirTemp("", "bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	moto, err := motoserver.Start()
	if err != nil {
		return err
	}
	defer moto.Stop()
	return burstScenario(r, work, moto.Env(), burstEvents)
}

// userOnly measures the cold Create of a live credential alone.
func userOnly(r *report, runs int) error {
	work, err := os.MkdirTemp("", "bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	host := filepath.Join(work, "host")
	if err := makeBuild("CustomResourceFunction", filepath.Join(host, "ours"), "linux", runtime.GOARCH); err != nil {
		return err
	}
	moto, err := motoserver.Start()
	if err != nil {
		return err
	}
	defer moto.Stop()
	event, err := os.ReadFile("events/custom-resource-create.json")
	if err != nil {
		return err
	}
	return userCreate(r, runs, host, moto.Env(), moto, event)
}

func run(r *report, runs, count int) error {
	work, err := os.MkdirTemp("", "bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	machine(r)

	// Sizes, for Lambda's arm64 and this machine's amd64, and no SDK v1.
	r.printf("\n## Size\n\n| function | arm64 | amd64 | budget |\n|---|---|---|---|")
	for _, f := range functions {
		row := "| " + f
		for _, arch := range []string{"arm64", "amd64"} {
			dir := filepath.Join(work, arch, f)
			if err := makeBuild(f, dir, "linux", arch); err != nil {
				return err
			}
			st, err := os.Stat(filepath.Join(dir, "bootstrap"))
			if err != nil {
				return err
			}
			row += fmt.Sprintf(" | %.2f MiB", float64(st.Size())/(1<<20))
			r.check(f+" "+arch+" size", st.Size() <= maxBinaryBytes, mib(st.Size()), "10 MiB")
			if err := noSDKv1(filepath.Join(dir, "bootstrap")); err != nil {
				r.failed = append(r.failed, err.Error())
			}
		}
		r.printf("%s | 10 MiB |", row)
	}
	r.printf("\n`go version -m` shows no AWS SDK for Go v1 in any of them.")

	// Binaries for this machine: ours, hello-world, the Python peer.
	host := filepath.Join(work, "host")
	if err := makeBuild("CustomResourceFunction", filepath.Join(host, "ours"), "linux", runtime.GOARCH); err != nil {
		return err
	}
	hello := filepath.Join(host, "hello", "bootstrap")
	if out, err := exec.Command("go", "build", "-trimpath", "-tags", "lambda.norpc", "-ldflags=-s -w", "-o", hello, "./local/bench/hello").CombinedOutput(); err != nil {
		return fmt.Errorf("building hello: %v\n%s", err, out)
	}
	peer, err := pythonPeer(filepath.Join(host, "python"))
	if err != nil {
		return err
	}
	node, err := nodePeer(filepath.Join(host, "node"))
	if err != nil {
		return err
	}

	moto, err := motoserver.Start()
	if err != nil {
		return err
	}
	defer moto.Stop()
	env := moto.Env()
	event, err := os.ReadFile("events/custom-resource-create.json")
	if err != nil {
		return err
	}

	var ours, python, nodeJS []time.Duration
	var ratios, nodeRatios []float64
	var rss, pythonRSS, nodeRSS []int64
	for i := 0; i < runs; i++ {
		// Rotate who goes first, so that drift on the machine falls on all.
		order := [][]string{{"ours", "python", "node"}, {"python", "node", "ours"}, {"node", "ours", "python"}}[i%3]
		var pair [3]time.Duration
		for _, who := range order {
			bootstrap := map[string]string{"ours": filepath.Join(host, "ours", "bootstrap"), "python": peer, "node": node}[who]
			out, err := coldCreate(bootstrap, fmt.Sprintf("app/bench/%s-%d", who, i), fmt.Sprintf("%08x-0000-4000-8000-%012d", i, map[string]int{"ours": 1, "python": 2, "node": 4}[who]), event, env, nil)
			if err != nil {
				return fmt.Errorf("%s run %d: %w", who, i, err)
			}
			switch who {
			case "ours":
				ours, rss = append(ours, out.Duration), append(rss, out.MaxRSSKiB)
				pair[0] = out.Duration
			case "python":
				python, pythonRSS = append(python, out.Duration), append(pythonRSS, out.MaxRSSKiB)
				pair[1] = out.Duration
			default:
				nodeJS, nodeRSS = append(nodeJS, out.Duration), append(nodeRSS, out.MaxRSSKiB)
				pair[2] = out.Duration
			}
		}
		ratios = append(ratios, float64(pair[0])/float64(pair[1]))
		nodeRatios = append(nodeRatios, float64(pair[0])/float64(pair[2]))
	}
	ratio := medianFloat(ratios)
	r.printf("\n## Cold invocation\n\nA custom-resource Create (postgres, one replica, two tags) from starting the process under the local Runtime API to the answer, with the CloudFormation response PUT to the local receiver, against moto_server on loopback; %d fresh processes each, alternating.\n", runs)
	r.printf("| | median | min | max | p90 |\n|---|---|---|---|---|")
	r.printf("| ours (Go) | %s | %s | %s | %s |", ms(median(ours)), ms(minD(ours)), ms(maxD(ours)), ms(pct(ours, 90)))
	r.printf("| Python peer (boto3) | %s | %s | %s | %s |", ms(median(python)), ms(minD(python)), ms(maxD(python)), ms(pct(python, 90)))
	r.printf("| Node.js peer (AWS SDK for JavaScript v3, `CreateSecretCommand`) | %s | %s | %s | %s |", ms(median(nodeJS)), ms(minD(nodeJS)), ms(maxD(nodeJS)), ms(pct(nodeJS, 90)))
	mark := r.check("cold invoke ratio", ratio <= maxColdRatio, fmt.Sprintf("%.3f", ratio), "0.10")
	r.printf("\nRatio ours / Python, median of the %d pairs: **%.3f** (budget 0.10: %s). Ours / Node.js: **%.3f** (no budget).", runs, ratio, mark, medianFloat(nodeRatios))

	if err := initScenario(r, runs, host, env, hello); err != nil {
		return err
	}

	for _, s := range [][]int64{rss, pythonRSS, nodeRSS} {
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	}
	peak := rss[len(rss)-1]
	mark = r.check("peak RSS", peak > 0 && peak <= maxPeakRSSKiB, fmt.Sprintf("%.1f MiB", float64(peak)/1024), "25 MiB")
	r.printf("\n## Memory\n\nEach process's own peak resident memory over a cold invocation (`VmHWM` in `/proc/<pid>/status`, read just before it is stopped; not rusage's `Maxrss`, which on Linux counts the benchmark's own memory for a child started by vfork and exec): ours **%.1f MiB** at most (median %.1f; budget 25 MiB: %s); the Python peer %.1f MiB, the Node.js peer %.1f MiB (medians).",
		float64(peak)/1024, float64(rss[len(rss)/2])/1024, mark, float64(pythonRSS[len(pythonRSS)/2])/1024, float64(nodeRSS[len(nodeRSS)/2])/1024)

	if err := userCreate(r, runs, host, env, moto, event); err != nil {
		return err
	}
	if err := burstScenario(r, host, env, burstEvents); err != nil {
		return err
	}
	return goBenchmarks(r, count)
}

// userCreate measures a cold custom-resource Create of a live credential
// (createDatabaseUser and rotation) against the local PostgreSQL,
// alternating with the floor: the smallest Go process making the same
// calls in the same order (local/bench/userfloor).
func userCreate(r *report, runs int, host string, env map[string]string, moto *motoserver.Server, event []byte) error {
	floor := filepath.Join(host, "userfloor")
	if out, err := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", floor, "./local/bench/userfloor").CombinedOutput(); err != nil {
		return fmt.Errorf("building the floor: %v\n%s", err, out)
	}
	pg, err := dbserver.StartPostgres()
	if err != nil {
		return err
	}
	defer pg.Stop()
	masterARN, err := storeMaster(env, pg, "masters/bench/user-master")
	if err != nil {
		return err
	}
	var e map[string]any
	json.Unmarshal(event, &e)
	props := e["ResourceProperties"].(map[string]any)
	rotator, err := moto.RotationFunction("us-east-1", "bench-rotate-postgres")
	if err != nil {
		return err
	}
	overrides := map[string]string{"AllowedRotationFunctions": rotator}
	// The floor PUTs its answer as ours does, to a receiver like the one
	// the emulator points ResponseURL at.
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { io.Copy(io.Discard, req.Body) }))
	defer receiver.Close()
	props["DbName"], props["MasterSecretArn"], props["CreateDatabaseUser"] = dbserver.Database, masterARN, "true"
	props["RotationLambdaArn"], props["RotationRules"] = rotator, map[string]any{"ScheduleExpression": "rate(30 days)"}
	delete(props, "Ssl")
	delete(props, "Host") // the master secret's own
	delete(props, "Port")
	var ours, floors []time.Duration
	var ratios []float64
	for i := 0; i < runs; i++ {
		props["Username"] = fmt.Sprintf("bench_user_%d", i)
		withUser, _ := json.Marshal(e)
		var pair [2]time.Duration
		// Alternate who goes first, so that drift on the machine falls on both.
		for _, who := range map[bool][]string{true: {"ours", "floor"}, false: {"floor", "ours"}}[i%2 == 0] {
			if who == "ours" {
				out, err := coldCreate(filepath.Join(host, "ours", "bootstrap"), fmt.Sprintf("app/bench/user-%d", i), fmt.Sprintf("%08x-0000-4000-8000-%012d", i, 3), withUser, env, overrides)
				if err != nil {
					return fmt.Errorf("ours with a user, run %d: %w", i, err)
				}
				ours, pair[0] = append(ours, out.Duration), out.Duration
				continue
			}
			cmd := exec.Command(floor, fmt.Sprintf("app/bench/floor-%d", i), fmt.Sprintf("floor_user_%d", i))
			cmd.Env = append(os.Environ(), "AWS_REGION=us-east-1", "DB_NAME="+dbserver.Database, "MASTER_SECRET_ARN="+masterARN,
				"USERS_TABLE="+samtemplate.TableName("DatabaseUsersTable"), "ROTATION_FUNCTION="+rotator, "RESPONSE_URL="+receiver.URL)
			for k, v := range env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			start := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("the floor, run %d: %v\n%s", i, err, out)
			}
			d := time.Since(start)
			floors, pair[1] = append(floors, d), d
		}
		ratios = append(ratios, float64(pair[0])/float64(pair[1]))
	}
	ratio := medianFloat(ratios)
	r.printf("\n%s\n\nA custom-resource Create of a live credential: `CreateDatabaseUser` (postgres, readwrite on public) against a local PostgreSQL and rotation switched on (`RotationLambdaArn`, `rate(30 days)`), from starting the process to CloudFormation's answer. Against the floor (`local/bench/userfloor`): the smallest Go process making the same calls in the same order, one after another, from its start to its exit: the master secret's value and description, the connection, the name and target checks, the role made in a transaction, CreateSecret, the user's record, the grants and COMMIT, the role's oid and the record again, RotateSecret and DescribeSecret, and the answer PUT. %d of each, alternating.\n", liveCredentialHeading, runs)
	r.printf("| | median | min | max | p90 |\n|---|---|---|---|---|")
	r.printf("| ours | %s | %s | %s | %s |", ms(median(ours)), ms(minD(ours)), ms(maxD(ours)), ms(pct(ours, 90)))
	r.printf("| floor | %s | %s | %s | %s |", ms(median(floors)), ms(minD(floors)), ms(maxD(floors)), ms(pct(floors, 90)))
	mark := r.check("cold Create with a user against the floor", ratio <= maxUserCreateRatio, fmt.Sprintf("%.2f", ratio), "1.10")
	r.printf("\nRatio ours / floor, median of the %d pairs: **%.2f** (budget 1.10: %s).", runs, ratio, mark)
	return nil
}

// initEvents are what each function is started for when its init is
// measured: init ends at its first request for an event, whatever it is.
var initEvents = map[string]string{
	"CustomResourceFunction": "events/custom-resource-create.json",
	"HttpApiFunction":        "events/http-api-get.json",
	"EventBridgeFunction":    "events/eventbridge-request-invalid.json",
}

// initScenario measures each function's init (process start to its first
// request for an event) against the hello-world function, alternating,
// and reports it. measured holds what was already measured of a function
// (the custom resource's, from the cold invocations), helloInit the
// hello-world's.
func initScenario(r *report, runs int, host string, env map[string]string, hello string) error {
	// Each function's runs alternate with the hello-world's, and what
	// counts is the median of each pair's difference: drift on the machine
	// falls on both sides of a pair. Every sample is taken here, after a
	// process of the same size: an init measured right after a Python or
	// Node.js peer's cold invoke (as the cold-invocation runs are) pays for
	// what that peer did to the caches.
	runs *= 5
	measured, pairs := map[string][]time.Duration{}, map[string][]time.Duration{}
	var helloInit []time.Duration
	for _, f := range functions {
		bootstrap := filepath.Join(host, f, "bootstrap")
		if err := makeBuild(f, filepath.Dir(bootstrap), "linux", runtime.GOARCH); err != nil {
			return err
		}
		event, err := os.ReadFile(initEvents[f])
		if err != nil {
			return err
		}
		for i := 0; i < runs; i++ {
			var ours, theirs time.Duration
			// Which of the pair goes first alternates, so that an order
			// effect falls on both.
			for j := range 2 {
				if (i+j)%2 == 0 {
					out, err := invoke.Run(context.Background(), invoke.Options{Template: "template.yaml", Function: f, Bootstrap: bootstrap, Event: event, Env: env})
					if err != nil || out.InitError != nil {
						return fmt.Errorf("%s init run %d: %v %+v", f, i, err, out.InitError)
					}
					ours = out.Init
					continue
				}
				h, err := invoke.Run(context.Background(), invoke.Options{Template: "template.yaml", Function: f, Bootstrap: hello, Event: []byte(`{}`), Env: env})
				if err != nil || h.InitError != nil {
					return fmt.Errorf("hello run %d: %v %+v", i, err, h.InitError)
				}
				theirs = h.Init
			}
			measured[f], helloInit = append(measured[f], ours), append(helloInit, theirs)
			pairs[f] = append(pairs[f], ours-theirs)
		}
	}
	r.printf("\n## Init\n\nProcess start to the first request for an event, each function %d times in pairs with a hello-world run, which of the two goes first alternating; above hello-world is the median of those %d pairs' differences. Every function builds its clients (Secrets Manager, DynamoDB, RDS, KMS, EventBridge Scheduler, as it uses them) at init; none connects or calls anything before its first request.\n\n| | median | min | max | above hello-world | budget 2 ms |\n|---|---|---|---|---|---|", runs, runs)
	for _, f := range functions {
		d := measured[f]
		above := median(pairs[f])
		mark := r.check(f+" init above hello-world", above <= maxInitAboveHello, ms(above), "2 ms")
		r.printf("| %s | %s | %s | %s | **%s** | %s |", f, ms(median(d)), ms(minD(d)), ms(maxD(d)), ms(above), mark)
	}
	r.printf("| aws-lambda-go hello-world, built the same way | %s | %s | %s | | |", ms(median(helloInit)), ms(minD(helloInit)), ms(maxD(helloInit)))
	return nil
}

// initOnly measures init alone.
func initOnly(r *report, runs int) error {
	work, err := os.MkdirTemp("", "bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	hello := filepath.Join(work, "hello", "bootstrap")
	if out, err := exec.Command("go", "build", "-trimpath", "-tags", "lambda.norpc", "-ldflags=-s -w", "-o", hello, "./local/bench/hello").CombinedOutput(); err != nil {
		return fmt.Errorf("building hello: %v\n%s", err, out)
	}
	moto, err := motoserver.Start()
	if err != nil {
		return err
	}
	defer moto.Stop()
	return initScenario(r, runs, work, moto.Env(), hello)
}

// liveCredentialHeading heads the cold Create of a live credential.
const liveCredentialHeading = "## Cold Create of a live credential"

// Burst figures, from issue 26: each burst at 90% of the CreateSecret quota
// or better, for service latencies from 50 to 500 ms a call, none failed
// and one secret each.
var burstLatencies = []time.Duration{50 * time.Millisecond, 150 * time.Millisecond, 500 * time.Millisecond}

// burstUsers are the kinds of burst measured: without users, with them.
var burstUsers = []bool{false, true}

// burstConcurrency replaces the template's EventConcurrency when set.
var burstConcurrency int

// burstLogs, when set, is where each burst's function logs are kept.
var burstLogs string

const (
	burstQuota    = 50 // CreateSecret a second, Secrets Manager's default
	minQuotaShare = 0.90
)

// burstScenario sends bursts of EventBridge requests at the template's
// settings (its EventConcurrency, its rates, its paced retries) against a
// Secrets Manager that answers each call after a latency and throttles
// CreateSecret above the quota, with and without a database user made in a
// real PostgreSQL, and reports the wall time as a share of the quota: a
// burst of n at the quota takes n/quota seconds.
func burstScenario(r *report, host string, env map[string]string, events int) error {
	bootstrap := filepath.Join(host, "events")
	if err := makeBuild("EventBridgeFunction", bootstrap, "linux", runtime.GOARCH); err != nil {
		return err
	}
	tpl, err := samtemplate.Load("template.yaml")
	if err != nil {
		return err
	}
	concurrency, err := strconv.Atoi(tpl.ParameterDefault("EventConcurrency"))
	if err != nil {
		return err
	}
	overrides := map[string]string{}
	if burstConcurrency > 0 {
		concurrency = burstConcurrency
		overrides["EventConcurrency"] = strconv.Itoa(concurrency)
	}
	event, err := os.ReadFile("events/eventbridge-request.json")
	if err != nil {
		return err
	}
	pg, err := dbserver.StartPostgres()
	if err != nil {
		return err
	}
	defer pg.Stop()
	masterARN, err := storeMaster(env, pg, "masters/bench/burst-master")
	if err != nil {
		return err
	}
	grants := maps.Clone(overrides)
	grants["DatabaseUserGrants"] = `[{"caller":"events:*","masterSecret":"*","databases":["*"],"schemas":["*"]}]`

	r.printf("\n## Burst\n\nEventBridge requests at once, at the template's settings%s: %d function instances (`EventConcurrency`), each taking the next event when done, as Lambda serves a reserved concurrency, and each pacing its CreateSecret calls to `CreateSecretQuota` (%d) / `EventConcurrency`; a throttled call retried at the instance's next paced slot. Secrets Manager is moto behind a proxy that answers each call after the latency shown and throttles CreateSecret above %d a second in any one-second window. With a user, each request also makes a PostgreSQL user (readwrite on public) in one local server, %d requests a burst (user creation is bounded by the database, not the quota). The share is the quota's time for the burst (requests / %d s) over the burst's.\n",
		map[bool]string{true: " but `EventConcurrency` " + strconv.Itoa(concurrency), false: ""}[burstConcurrency > 0], concurrency, burstQuota, burstQuota, userEvents(events), burstQuota)
	r.printf("| latency a call | database user | requests | took | share of the quota | CreateSecret throttled | failed first deliveries | secrets made once |\n|---|---|---|---|---|---|---|---|")
	var missed []string
	for _, withUser := range burstUsers {
		for _, latency := range burstLatencies {
			// Never "-true-N": a hyphen and six characters end an ARN, and such
			// names are refused.
			name := fmt.Sprintf("app/bench/burst-%d-%s", latency.Milliseconds(), map[bool]string{true: "users", false: "plain"}[withUser])
			n := events
			if withUser {
				n = userEvents(events)
			}
			opts := burst.Options{Template: "template.yaml", Bootstrap: filepath.Join(bootstrap, "bootstrap"), Env: env,
				Events: n, Concurrency: concurrency, Quota: burstQuota, Latency: latency, Name: name, Event: event, ParameterOverrides: overrides}
			if withUser {
				opts.ParameterOverrides = grants
				opts.User = &burst.User{MasterSecretARN: masterARN, Database: dbserver.Database, Prefix: fmt.Sprintf("burst_%d_", latency.Milliseconds())}
			}
			var logs bytes.Buffer
			opts.Logs = &logs
			res, err := burst.Run(context.Background(), opts)
			if err != nil {
				return err
			}
			if burstLogs != "" {
				if err := os.WriteFile(filepath.Join(burstLogs, strings.ReplaceAll(name, "/", "_")+".log"), logs.Bytes(), 0o644); err != nil {
					return err
				}
			}
			if len(res.FirstDeliveryFailures) > 0 {
				types := map[string]int{}
				for _, f := range res.FirstDeliveryFailures {
					types[f[strings.LastIndex(f, ": ")+2:]]++
				}
				fmt.Fprintf(os.Stderr, "bench: %v, user %t: %d failed, by error type: %v; by the cause logged: %v\n", latency, withUser, len(res.FirstDeliveryFailures), types, failureCauses(logs.Bytes()))
			}
			share := float64(n) / burstQuota / res.Elapsed.Seconds()
			// With a user, the database sets the pace: the budget is no
			// failure and one secret each.
			ok := len(res.FirstDeliveryFailures) == 0 && res.Secrets == n && (withUser || share >= minQuotaShare)
			if !ok {
				missed = append(missed, fmt.Sprintf("%v %s", latency, map[bool]string{true: "with a user", false: "without"}[withUser]))
			}
			r.check(fmt.Sprintf("burst at %v, user %t", latency, withUser), ok,
				fmt.Sprintf("%.0f%% of the quota, %d failed first deliveries, %d of %d secrets", 100*share, len(res.FirstDeliveryFailures), res.Secrets, n),
				"90%, none failed, one secret each")
			r.printf("| %v | %s | %d | %s | **%.0f%%** | %d | **%d** | %d |", latency, map[bool]string{true: "yes", false: "no"}[withUser], n,
				res.Elapsed.Round(10*time.Millisecond), 100*share, res.Throttled, len(res.FirstDeliveryFailures), res.Secrets)
		}
	}
	mark := "ok"
	if len(missed) > 0 {
		mark = "**missed** (" + strings.Join(missed, "; ") + ")"
	}
	r.printf("\nBudget: without a user, 90%% of the quota or better; always, no failed first delivery and one secret each: %s.", mark)
	return nil
}

// storeMaster stores the local PostgreSQL's master credentials with its
// host and port, outside the provisioner's prefix, in moto, and returns the
// secret's ARN.
func storeMaster(env map[string]string, pg *dbserver.Server, name string) (string, error) {
	client, err := secretstore.ClientFromEnvironment(func(k string) string {
		if k == "AWS_REGION" {
			return "us-east-1"
		}
		return env[k]
	})
	if err != nil {
		return "", err
	}
	out, err := client.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name),
		SecretString: aws.String(fmt.Sprintf(`{"username": %q, "password": %q, "host": %q, "port": %d}`, dbserver.MasterUser, dbserver.MasterPassword, pg.Host, pg.Port))})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.ARN), nil
}

// coldCreate runs one Create in a fresh process and checks CloudFormation
// heard SUCCESS.
func coldCreate(bootstrap, name, requestID string, event []byte, env, overrides map[string]string) (*invoke.Outcome, error) {
	var e map[string]any
	json.Unmarshal(event, &e)
	e["RequestId"] = requestID
	e["ResourceProperties"].(map[string]any)["Name"] = name
	raw, _ := json.Marshal(e)
	var logs bytes.Buffer
	out, err := invoke.Run(context.Background(), invoke.Options{Template: "template.yaml", Function: "CustomResourceFunction",
		Bootstrap: bootstrap, Event: raw, Env: env, ParameterOverrides: overrides, Logs: &logs})
	if err != nil {
		return nil, err
	}
	var answer struct{ Status, Reason string }
	if json.Unmarshal(out.CloudFormation, &answer) != nil || answer.Status != "SUCCESS" {
		return nil, fmt.Errorf("CloudFormation got %s (%+v %+v)\n%s", out.CloudFormation, out.Error, out.InitError, logs.String())
	}
	return out, nil
}

// pythonPeer writes a bootstrap that runs the peer with this machine's
// python3, which has boto3 beside moto.
func pythonPeer(dir string) (string, error) {
	python, err := exec.Command("python3", "-c", "import sys, boto3; print(sys.executable)").Output()
	if err != nil {
		return "", errors.New("python3 with boto3 is needed for the peer (pip install boto3; moto brings it)")
	}
	handler, err := filepath.Abs("local/bench/pythonpeer/handler.py")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	bootstrap := filepath.Join(dir, "bootstrap")
	script := "#!/bin/sh\nexec " + strings.TrimSpace(string(python)) + " " + handler + "\n"
	return bootstrap, os.WriteFile(bootstrap, []byte(script), 0o755)
}

// nodePeer installs the Node.js peer's packages (pinned by its lockfile)
// and writes a bootstrap that runs it with this machine's node.
func nodePeer(dir string) (string, error) {
	src, err := filepath.Abs("local/bench/nodepeer")
	if err != nil {
		return "", err
	}
	if out, err := exec.Command("npm", "ci", "--prefix", src, "--no-audit", "--no-fund", "--silent").CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm ci for the Node.js peer (Node.js 20+ and npm are needed): %v\n%s", err, out)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	bootstrap := filepath.Join(dir, "bootstrap")
	script := "#!/bin/sh\nexec " + node + " " + filepath.Join(src, "handler.mjs") + "\n"
	return bootstrap, os.WriteFile(bootstrap, []byte(script), 0o755)
}

func makeBuild(function, dir, goos, goarch string) error {
	out, err := exec.Command("make", "--no-print-directory", "build-"+function, "ARTIFACTS_DIR="+dir, "LAMBDA_GOOS="+goos, "LAMBDA_GOARCH="+goarch).CombinedOutput()
	if err != nil {
		return fmt.Errorf("make build-%s: %v\n%s", function, err, out)
	}
	return nil
}

func noSDKv1(binary string) error {
	out, err := exec.Command("go", "version", "-m", binary).Output()
	if err != nil {
		return err
	}
	if regexp.MustCompile(`\sgithub\.com/aws/aws-sdk-go\s`).Match(out) {
		return fmt.Errorf("%s links the AWS SDK for Go v1", binary)
	}
	return nil
}

// goBenchmarks runs the Go benchmarks count times on one core and keeps the
// medians.
func goBenchmarks(r *report, count int) error {
	// Twice the runs of the others: a single run moves by a fifth on a
	// shared machine, and the median of many is what the budget is about.
	results, err := benchmarks(2*count+1, "./functions/custom-resource/", "BenchmarkInvocation$|BenchmarkCreateSecretFloor$")
	if err != nil {
		return err
	}
	inv, floor := results["BenchmarkInvocation"], results["BenchmarkCreateSecretFloor"]
	mark := r.check("warm invocation", time.Duration(inv.ns) <= maxWarmInvocation, fmt.Sprintf("%.1f µs", inv.ns/1000), "100 µs")
	r.printf("\n## Warm invocation\n\nOne full custom-resource Create in a warm function (decode the event, validate, generate, shape, build and sign the CreateSecret request for a transport that answers at once, send the answer), on one core, %d runs of a second each, and as many of the SDK's own part: one CreateSecret of the same input through the same client (middleware, endpoint resolution, SigV4 signing, JSON both ways), nothing of ours.\n", 2*count+1)
	r.printf("| | median ns/op | fastest | slowest | B/op | allocs/op |\n|---|---|---|---|---|---|")
	r.printf("| the invocation | **%.0f** | %.0f | %.0f | %.0f | %.0f |", inv.ns, inv.minNs, inv.maxNs, inv.bytes, inv.allocs)
	r.printf("| of which the SDK's CreateSecret | %.0f | %.0f | %.0f | %.0f | %.0f |", floor.ns, floor.minNs, floor.maxNs, floor.bytes, floor.allocs)
	r.printf("\nBudget 100 µs on the median: %s. Ours above the SDK's call: %.1f µs (medians).", mark, (inv.ns-floor.ns)/1000)

	results, err = benchmarks(count, "./shared/credential/", "BenchmarkPassword$")
	if err != nil {
		return err
	}
	engines, err := benchmarks(count, "./shared/dbsecret/", "BenchmarkEnginePassword")
	if err != nil {
		return err
	}
	pw := results["BenchmarkPassword"]
	perSecond := 1e9 / pw.ns
	mark = r.check("password throughput", perSecond >= minPasswordsPerS, fmt.Sprintf("%.0f/s", perSecond), "1,000,000/s")
	r.printf("\n## Password generation\n\n32 characters, on one core, median of %d runs.\n\n| policy | passwords/s | ns/op | allocs/op |\n|---|---|---|---|", count)
	r.printf("| GetRandomPassword default | **%.0f** (budget 1,000,000: %s) | %.0f | %.0f |", perSecond, mark, pw.ns, pw.allocs)
	var names []string
	for name := range engines {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		e := engines[name]
		r.printf("| %s | %.0f | %.0f | %.0f |", strings.TrimPrefix(name, "BenchmarkEnginePassword/"), 1e9/e.ns, e.ns, e.allocs)
	}
	return nil
}

// result is a benchmark's median run, with the fastest and slowest.
type result struct{ ns, bytes, allocs, minNs, maxNs float64 }

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:\s+([\d.]+) B/op)?(?:\s+([\d.]+) allocs/op)?`)

func benchmarks(count int, pkg, pattern string) (map[string]result, error) {
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", pattern, "-benchmem", "-cpu", "1", "-count", strconv.Itoa(count), pkg)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go test -bench %s %s: %v\n%s", pattern, pkg, err, out)
	}
	samples := map[string][]result{}
	for _, line := range strings.Split(string(out), "\n") {
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var res result
		res.ns, _ = strconv.ParseFloat(m[2], 64)
		res.bytes, _ = strconv.ParseFloat(m[3], 64)
		res.allocs, _ = strconv.ParseFloat(m[4], 64)
		samples[m[1]] = append(samples[m[1]], res)
	}
	medians := map[string]result{}
	for name, rs := range samples {
		sort.Slice(rs, func(i, j int) bool { return rs[i].ns < rs[j].ns })
		m := rs[len(rs)/2]
		m.minNs, m.maxNs = rs[0].ns, rs[len(rs)-1].ns
		medians[name] = m
	}
	if len(medians) == 0 {
		return nil, fmt.Errorf("no benchmark matched %s in %s:\n%s", pattern, pkg, out)
	}
	return medians, nil
}

func machine(r *report) {
	cpu := "unknown"
	if info, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := regexp.MustCompile(`(?m)^model name\s*:\s*(.+)$`).FindSubmatch(info); m != nil {
			cpu = string(m[1])
		}
	}
	kernel, _ := exec.Command("uname", "-r").Output()
	python, _ := exec.Command("python3", "-c", "import sys, boto3; print(sys.version.split()[0], 'boto3', boto3.__version__)").Output()
	r.printf("Measured %s on %d cores (%s), Linux %s, %s, Python %s, with `make bench`.",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), cpu, strings.TrimSpace(string(kernel)), runtime.Version(), strings.TrimSpace(string(python)))
}

// write replaces the measured part of BENCHMARKS.md, between its markers,
// and keeps the rest, which people write.
func write(path string, r *report) error {
	const begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
	body := begin + "\n" + strings.Join(r.lines, "\n") + "\n"
	if len(r.failed) > 0 {
		body += "\n**Budgets missed:** " + strings.Join(r.failed, "; ") + "\n"
	} else {
		body += "\nEvery budget is met.\n"
	}
	body += end
	old, err := os.ReadFile(path)
	if err != nil || !bytes.Contains(old, []byte(begin)) || !bytes.Contains(old, []byte(end)) {
		return os.WriteFile(path, []byte("# Benchmarks\n\n"+body+"\n"), 0o644)
	}
	s := string(old)
	s = s[:strings.Index(s, begin)] + body + s[strings.Index(s, end)+len(end):]
	return os.WriteFile(path, []byte(s), 0o644)
}

// replaceSection puts r's lines in place of the results' section that
// starts with heading, dated: a run of one part of the benchmarks.
func replaceSection(path, heading, only string, r *report) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(old)
	start := strings.Index(s, "\n"+heading+"\n")
	if start < 0 {
		return fmt.Errorf("%s has no section %q: run make bench", path, heading)
	}
	end := strings.Index(s[start+1:], "\n## ")
	if end < 0 {
		return fmt.Errorf("%s: nothing follows %q", path, heading)
	}
	lines := strings.Join(r.lines, "\n")
	lines = strings.Replace(lines, heading+"\n", heading+"\n\nMeasured "+time.Now().UTC().Format("2006-01-02 15:04 UTC")+" on its own (`go run ./local/cmd/bench "+only+"`).\n", 1)
	return os.WriteFile(path, []byte(s[:start]+lines+"\n"+s[start+1+end:]), 0o644)
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func pct(d []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, len(s)*p/100)]
}

func minD(d []time.Duration) time.Duration { return pct(d, 0) }
func maxD(d []time.Duration) time.Duration { return pct(d, 100) }

func medianFloat(f []float64) float64 {
	s := append([]float64(nil), f...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
func mib(n int64) string        { return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20)) }
