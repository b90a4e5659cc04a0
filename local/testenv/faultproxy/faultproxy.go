// Package faultproxy stands between a function and moto_server and makes
// chosen Secrets Manager calls fail the ways the real service can: server
// errors, throttling, dropped connections, and a response lost after the
// call took effect. Tests use it to prove that retries, errors and answers
// hold up.
//
// It imports nothing of this module.
package faultproxy

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Fault is what happens to one call.
type Fault int

const (
	Pass         Fault = iota // forwarded, answered
	ServerError               // 500 InternalServiceError, not forwarded
	Throttle                  // 400 ThrottlingException, not forwarded
	Drop                      // the connection closed without an answer, not forwarded
	LoseResponse              // forwarded, then answered 500: the call took effect unseen
	BadGateway                // 502 with an HTML page, as a load balancer answers; not forwarded
	Slow                      // forwarded after SlowBy: a look-up that lags
)

// SlowBy is how long a Slow call waits before it is forwarded.
const SlowBy = 1500 * time.Millisecond

func (f Fault) String() string {
	return [...]string{"pass", "server-error", "throttle", "drop", "lose-response", "bad-gateway", "slow"}[f]
}

// Plan decides the fault for the attempt-th call (from 1) of an operation
// (CreateSecret, DescribeSecret, ...).
type Plan func(operation string, attempt int) Fault

// Proxy is a running fault proxy.
type Proxy struct {
	URL string
	// Latency, when set before the first call, is how long each call of an
	// operation takes before it is answered: the real service's time.
	Latency func(operation string) time.Duration

	plan     Plan
	forward  *httputil.ReverseProxy
	server   *http.Server
	mu       sync.Mutex
	attempts map[string]int
	bodies   map[string][]string
	faults   map[string]int // operation and fault -> calls it was given
}

// Start proxies to target (moto's endpoint) on a loopback port.
func Start(target string, plan Plan) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{URL: "http://" + l.Addr().String(), plan: plan, forward: httputil.NewSingleHostReverseProxy(u), attempts: map[string]int{}, bodies: map[string][]string{}, faults: map[string]int{}}
	p.server = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go p.server.Serve(l)
	return p, nil
}

// Close stops the proxy.
func (p *Proxy) Close() { p.server.Close() }

// Bodies are the request bodies of operation's calls, in order.
func (p *Proxy) Bodies(operation string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.bodies[operation]...)
}

// Faults says how many calls of operation were given fault.
func (p *Proxy) Faults(operation string, fault Fault) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faults[operation+"/"+fault.String()]
}

// Attempts says how many calls of operation arrived.
func (p *Proxy) Attempts(operation string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.attempts[operation]
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The JSON protocol names the operation in a header:
	// secretsmanager.CreateSecret, DynamoDB_20120810.GetItem.
	_, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	p.mu.Lock()
	p.bodies[op] = append(p.bodies[op], string(body))
	p.attempts[op]++
	n := p.attempts[op]
	p.mu.Unlock()
	if p.Latency != nil {
		select {
		case <-time.After(p.Latency(op)):
		case <-r.Context().Done():
			return
		}
	}
	fault := p.plan(op, n)
	p.mu.Lock()
	p.faults[op+"/"+fault.String()]++
	p.mu.Unlock()
	switch fault {
	case ServerError:
		fail(w, http.StatusInternalServerError, "InternalServiceError", "An error occurred on the server side.")
	case Throttle:
		fail(w, http.StatusBadRequest, "ThrottlingException", "Rate exceeded")
	case Drop:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		fail(w, http.StatusBadGateway, "InternalServiceError", "dropped")
	case BadGateway:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "<html><body><h1>502 Bad Gateway</h1></body></html>")
	case Slow:
		select {
		case <-time.After(SlowBy):
		case <-r.Context().Done():
			return
		}
		p.forward.ServeHTTP(w, r)
	case LoseResponse:
		rec := &discard{header: http.Header{}}
		p.forward.ServeHTTP(rec, r)
		fail(w, http.StatusInternalServerError, "InternalServiceError", "An error occurred on the server side.")
	default:
		p.forward.ServeHTTP(w, r)
	}
}

func fail(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	io.WriteString(w, `{"__type":"`+code+`","message":"`+message+`"}`)
}

// discard takes a response nobody will see.
type discard struct{ header http.Header }

func (d *discard) Header() http.Header         { return d.header }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// RateLimit throttles operation above perSecond calls in any second, as
// Secrets Manager enforces its request quotas (CreateSecret: 50 a second);
// other operations pass.
func RateLimit(operation string, perSecond int) Plan {
	var mu sync.Mutex
	var recent []time.Time
	return func(op string, _ int) Fault {
		if op != operation {
			return Pass
		}
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		for len(recent) > 0 && now.Sub(recent[0]) >= time.Second {
			recent = recent[1:]
		}
		if len(recent) >= perSecond {
			return Throttle
		}
		recent = append(recent, now)
		return Pass
	}
}
