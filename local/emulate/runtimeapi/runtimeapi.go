// Package runtimeapi is a local implementation of the Lambda Runtime API
// (2018-06-01), the interface a provided.al2023 bootstrap polls for events,
// as sam local invoke's emulator offers it inside its container: next
// invocation, response, invocation error and init error.
//
// It imports nothing of this module.
package runtimeapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Lambda's limit on a synchronous response payload.
const maxResponseBytes = 6 << 20

// FunctionError is what a runtime reports on /error and /init/error.
type FunctionError struct {
	Type       string   `json:"errorType"`
	Message    string   `json:"errorMessage"`
	StackTrace []string `json:"stackTrace,omitempty"`
}

// Outcome is how one invocation ended: a response or an error.
type Outcome struct {
	RequestID string
	Response  json.RawMessage
	Error     *FunctionError
}

type invocation struct {
	id       string
	event    []byte
	deadline time.Time
	done     chan Outcome
}

// Server serves the Runtime API on a loopback port.
type Server struct {
	// Addr is host:port, the value of AWS_LAMBDA_RUNTIME_API.
	Addr        string
	functionARN string

	http    *http.Server
	next    chan *invocation
	initErr chan FunctionError

	mu      sync.Mutex
	pending map[string]*invocation

	firstNext atomic.Int64 // unix nanoseconds of the first /next: the end of init
}

// Start serves the API for a function with the given ARN.
func Start(functionARN string) (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("runtime API: %w", err)
	}
	s := &Server{
		Addr:        l.Addr().String(),
		functionARN: functionARN,
		next:        make(chan *invocation),
		initErr:     make(chan FunctionError, 1),
		pending:     map[string]*invocation{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", s.handleNext)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", s.handleResponse)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", s.handleError)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", s.handleInitError)
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go s.http.Serve(l)
	return s, nil
}

// Close stops serving; a runtime blocked on /next sees its connection end.
func (s *Server) Close() error { return s.http.Close() }

// InitErrors delivers the error a runtime reports when its init fails.
func (s *Server) InitErrors() <-chan FunctionError { return s.initErr }

// Invoke hands event to the runtime's next /next call and waits for its
// answer until timeout, which is also the deadline the runtime is told. It
// gives up early when ctx ends (the process exited, say).
func (s *Server) Invoke(ctx context.Context, event []byte, timeout time.Duration) (Outcome, error) {
	inv := &invocation{id: newRequestID(), event: event, deadline: time.Now().Add(timeout), done: make(chan Outcome, 1)}
	s.mu.Lock()
	s.pending[inv.id] = inv
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, inv.id)
		s.mu.Unlock()
	}()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	timedOut := Outcome{RequestID: inv.id, Error: &FunctionError{Type: "Sandbox.Timedout",
		Message: fmt.Sprintf("Task timed out after %.2f seconds", timeout.Seconds())}}
	select {
	case s.next <- inv:
	case <-timer.C:
		return timedOut, nil
	case <-ctx.Done():
		return Outcome{}, fmt.Errorf("the runtime never asked for the event: %w", context.Cause(ctx))
	}
	select {
	case out := <-inv.done:
		return out, nil
	case <-timer.C:
		return timedOut, nil
	case <-ctx.Done():
		// The runtime had the event: its init was over, so this is the
		// invocation's failure, which the emulator reports as such.
		return Outcome{RequestID: inv.id, Error: &FunctionError{Type: "Runtime.ExitError",
			Message: fmt.Sprintf("RequestId: %s Error: Runtime exited during the invocation: %v", inv.id, context.Cause(ctx))}}, nil
	}
}

// FirstNext is when the runtime first asked for an event, which is when its
// init ended; zero before that.
func (s *Server) FirstNext() time.Time {
	if n := s.firstNext.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

func (s *Server) handleNext(w http.ResponseWriter, r *http.Request) {
	s.firstNext.CompareAndSwap(0, time.Now().UnixNano())
	select {
	case inv := <-s.next:
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", s.functionARN)
		// No Lambda-Runtime-Trace-Id: the emulator that sam local runs
		// sends none.
		w.WriteHeader(http.StatusOK)
		w.Write(inv.event)
	case <-r.Context().Done():
	}
}

func (s *Server) handleResponse(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxResponseBytes+1))
	if err != nil {
		writeStatus(w, http.StatusBadRequest, "InvalidRequestContent", err.Error())
		return
	}
	if len(body) > maxResponseBytes {
		s.finish(w, r.PathValue("id"), Outcome{Error: &FunctionError{Type: "Function.ResponseSizeTooLarge", Message: "Response payload size exceeded maximum allowed payload size (6291556 bytes)."}})
		return
	}
	s.finish(w, r.PathValue("id"), Outcome{Response: body})
}

func (s *Server) handleError(w http.ResponseWriter, r *http.Request) {
	fe := readError(r)
	s.finish(w, r.PathValue("id"), Outcome{Error: &fe})
}

func (s *Server) handleInitError(w http.ResponseWriter, r *http.Request) {
	fe := readError(r)
	select {
	case s.initErr <- fe:
	default:
	}
	writeStatus(w, http.StatusAccepted, "", "")
}

// finish completes a pending invocation; an unknown or finished request id
// is refused, as the real API does.
func (s *Server) finish(w http.ResponseWriter, id string, out Outcome) {
	s.mu.Lock()
	inv, ok := s.pending[id]
	delete(s.pending, id)
	s.mu.Unlock()
	if !ok {
		writeStatus(w, http.StatusBadRequest, "InvalidRequestID", "no pending invocation "+id)
		return
	}
	// Acknowledge first, so the runtime has its 202 before the caller moves on
	// (and, locally, stops the process).
	writeStatus(w, http.StatusAccepted, "", "")
	http.NewResponseController(w).Flush()
	out.RequestID = id
	inv.done <- out
}

func readError(r *http.Request) FunctionError {
	var fe FunctionError
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if json.Unmarshal(body, &fe) != nil || fe.Type == "" && fe.Message == "" {
		fe = FunctionError{Message: string(body)}
	}
	if t := r.Header.Get("Lambda-Runtime-Function-Error-Type"); fe.Type == "" {
		fe.Type = t
	}
	return fe
}

func writeStatus(w http.ResponseWriter, status int, errType, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if errType == "" {
		io.WriteString(w, `{"status":"OK"}`)
		return
	}
	json.NewEncoder(w).Encode(map[string]string{"errorType": errType, "errorMessage": message})
}

func newRequestID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(errors.New("no randomness for a request id"))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
