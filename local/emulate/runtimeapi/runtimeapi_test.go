package runtimeapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

const arn = "arn:aws:lambda:us-east-1:123456789012:function:F"

// runtime plays the bootstrap's side: fetch the next event, then answer.
func runtime(t *testing.T, s *Server, answer func(id string)) <-chan http.Header {
	headers := make(chan http.Header, 1)
	go func() {
		resp, err := http.Get("http://" + s.Addr + "/2018-06-01/runtime/invocation/next")
		if err != nil {
			t.Error(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != `{"hello":"world"}` {
			t.Errorf("event %q", body)
		}
		headers <- resp.Header
		answer(resp.Header.Get("Lambda-Runtime-Aws-Request-Id"))
	}()
	return headers
}

func post(t *testing.T, s *Server, path, body string, header map[string]string) int {
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.Addr+path, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func start(t *testing.T) *Server {
	s, err := Start(arn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestResponse(t *testing.T) {
	s := start(t)
	status := make(chan int, 1)
	headers := runtime(t, s, func(id string) {
		status <- post(t, s, "/2018-06-01/runtime/invocation/"+id+"/response", `{"ok":true}`, nil)
	})
	before := time.Now()
	out, err := s.Invoke(context.Background(), []byte(`{"hello":"world"}`), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h := <-headers
	if out.Error != nil || string(out.Response) != `{"ok":true}` || out.RequestID != h.Get("Lambda-Runtime-Aws-Request-Id") || <-status != http.StatusAccepted {
		t.Fatalf("outcome %+v", out)
	}
	deadline, err := strconv.ParseInt(h.Get("Lambda-Runtime-Deadline-Ms"), 10, 64)
	if err != nil || time.UnixMilli(deadline).Before(before.Add(29*time.Second)) {
		t.Fatalf("deadline header %q", h.Get("Lambda-Runtime-Deadline-Ms"))
	}
	if h.Get("Lambda-Runtime-Invoked-Function-Arn") != arn || h.Get("Lambda-Runtime-Trace-Id") != "" {
		t.Fatalf("headers %v", h)
	}
	// The invocation is over: a second answer for it is refused.
	if code := post(t, s, "/2018-06-01/runtime/invocation/"+out.RequestID+"/response", `{}`, nil); code != http.StatusBadRequest {
		t.Fatalf("a second answer got %d", code)
	}
}

func TestInvocationError(t *testing.T) {
	s := start(t)
	status := make(chan int, 1)
	runtime(t, s, func(id string) {
		status <- post(t, s, "/2018-06-01/runtime/invocation/"+id+"/error", `{"errorType":"Error","errorMessage":"port: must be a whole number"}`,
			map[string]string{"Lambda-Runtime-Function-Error-Type": "Error"})
	})
	out, err := s.Invoke(context.Background(), []byte(`{"hello":"world"}`), 30*time.Second)
	if code := <-status; code != http.StatusAccepted {
		t.Fatalf("the error report got %d", code)
	}
	if err != nil || out.Error == nil || out.Error.Type != "Error" || out.Error.Message != "port: must be a whole number" {
		t.Fatalf("outcome %+v, %v", out, err)
	}
}

func TestTimeout(t *testing.T) {
	s := start(t)
	runtime(t, s, func(string) {}) // takes the event, never answers
	out, err := s.Invoke(context.Background(), []byte(`{"hello":"world"}`), 200*time.Millisecond)
	if err != nil || out.Error == nil || out.Error.Type != "Sandbox.Timedout" {
		t.Fatalf("outcome %+v, %v", out, err)
	}
}

func TestInitErrorAndGone(t *testing.T) {
	s := start(t)
	if code := post(t, s, "/2018-06-01/runtime/init/error", `{"errorType":"Runtime.ConfigError","errorMessage":"bad"}`, nil); code != http.StatusAccepted {
		t.Fatalf("init error got %d", code)
	}
	if fe := <-s.InitErrors(); fe.Type != "Runtime.ConfigError" || fe.Message != "bad" {
		t.Fatalf("init error %+v", fe)
	}
	// Nobody asks for the event: the caller's context ends the wait.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := s.Invoke(ctx, []byte(`{}`), time.Minute); err == nil {
		t.Fatal("want an error when the runtime never asks for the event")
	}
}

// TestExitDuringInvocation: a runtime that took the event and died is the
// invocation's error (Runtime.ExitError), not an init error.
func TestExitDuringInvocation(t *testing.T) {
	s := start(t)
	ctx, cancel := context.WithCancelCause(context.Background())
	runtime(t, s, func(string) { cancel(errors.New("the function exited: signal: killed")) })
	out, err := s.Invoke(ctx, []byte(`{"hello":"world"}`), 5*time.Second)
	if err != nil || out.Error == nil || out.Error.Type != "Runtime.ExitError" || !strings.Contains(out.Error.Message, "signal: killed") || out.RequestID == "" {
		t.Fatalf("outcome %+v %+v, %v", out, out.Error, err)
	}
}
