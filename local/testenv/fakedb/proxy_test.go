// These tests prove StallingProxy goes quiet exactly at the trigger, in
// both directions, and that Close frees every socket and goroutine.

package fakedb_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/dbcreds/provisioner/local/testenv/fakedb"
)

// echoServer echoes every byte and counts what it received; the test can
// also write on a backend socket to push bytes unasked.
type echoServer struct {
	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	closed bool
	conns  []net.Conn
	got    bytes.Buffer
}

func startEcho(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{ln: ln}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.mu.Lock()
			if e.closed {
				c.Close()
			}
			e.conns = append(e.conns, c)
			e.mu.Unlock()
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					e.mu.Lock()
					e.got.Write(buf[:n])
					e.mu.Unlock()
					if n > 0 {
						c.Write(buf[:n])
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		e.mu.Lock()
		e.closed = true
		for _, c := range e.conns {
			c.Close()
		}
		e.mu.Unlock()
		e.wg.Wait()
	})
	return e
}

// push writes b on the first backend socket, as a server speaking unasked.
func (e *echoServer) push(b []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.conns) == 0 {
		return errors.New("no backend connection")
	}
	_, err := e.conns[0].Write(b)
	return err
}

func (e *echoServer) received() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.got.String()
}

func TestStallingProxy(t *testing.T) {
	for _, tc := range []struct {
		name      string
		sends     []string // each written and, until the stall, echoed in turn
		wantStall bool
		forwarded string // what the backend must have received
	}{
		{"trigger in one read", []string{"hello ", "SELECT pg_sleep(1)"}, true, "hello "},
		{"trigger split across reads", []string{"a pg_sl", "eep(1) b"}, true, "a pg_sl"},
		{"no trigger", []string{"ping ", "pong ", "pg_sl"}, false, "ping pong pg_sl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			echo := startEcho(t)
			p, err := fakedb.StartStallingProxy(echo.ln.Addr().String(), []byte("pg_sleep"))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()

			c, err := net.Dial("tcp", p.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()

			stalled := false
			for _, s := range tc.sends {
				if _, err := c.Write([]byte(s)); err != nil {
					t.Fatal(err)
				}
				got, err := readFor(c, len(s), 200*time.Millisecond)
				if string(got) == s {
					continue
				}
				if !errors.Is(err, os.ErrDeadlineExceeded) || len(got) != 0 {
					t.Fatalf("after %q: read %q, %v", s, got, err)
				}
				stalled = true
				break
			}
			if stalled != tc.wantStall {
				t.Fatalf("stalled = %v, want %v", stalled, tc.wantStall)
			}
			if tc.wantStall {
				if p.Stalled() != 1 {
					t.Errorf("Stalled() = %d, want 1", p.Stalled())
				}
				// The server speaking unasked must not reach the client either.
				if err := echo.push([]byte("late")); err != nil {
					t.Fatal(err)
				}
				if got, err := readFor(c, 1, 100*time.Millisecond); len(got) != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("after stall, client read %q, %v", got, err)
				}
			}

			closed := make(chan struct{})
			go func() { p.Close(); close(closed) }()
			select {
			case <-closed:
			case <-time.After(5 * time.Second):
				t.Fatal("Close did not return")
			}

			// Close hung up both sides: the client sees EOF, not silence.
			if _, err := readFor(c, 1, 2*time.Second); errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("client still open after Close: %v", err)
			}
			waitFor(t, func() bool { return echo.received() == tc.forwarded },
				func() string { return "backend received " + echo.received() + ", want " + tc.forwarded })
			if p.Connections() != 1 {
				t.Errorf("Connections() = %d, want 1", p.Connections())
			}
		})
	}
}

func TestStallingProxyRejectsEmptyTrigger(t *testing.T) {
	if p, err := fakedb.StartStallingProxy("127.0.0.1:1", nil); err == nil {
		p.Close()
		t.Fatal("want an error for an empty trigger")
	}
}

// readFor reads until it has n bytes, the peer closes, or d passes.
func readFor(c net.Conn, n int, d time.Duration) ([]byte, error) {
	c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, n)
	got, err := io.ReadFull(c, buf)
	return buf[:got], err
}

func waitFor(t *testing.T, ok func() bool, msg func() string) {
	t.Helper()
	for end := time.Now().Add(2 * time.Second); !ok(); {
		if time.Now().After(end) {
			t.Error(msg())
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}
