// Package fakedb holds hostile and broken database servers for security
// tests: fakes that coax a password out of a client (cleartext PostgreSQL,
// MySQL caching_sha2_password over RSA), a server that never answers, and a
// proxy that goes quiet mid-statement. Tests use them to prove a client never
// hands a password to a server that should not get it and never hangs past
// its deadline.
//
// Every server listens on 127.0.0.1 on a free port only, and Close stops it,
// closes every socket and waits for every goroutine it started.
//
// It imports nothing of this module.
package fakedb

import (
	"context"
	"net"
	"strconv"
	"sync"
)

// server is the accept loop, connection tracking and shutdown shared by the
// fakes, so each fake only writes its per-connection handler.
type server struct {
	ln     net.Listener
	ctx    context.Context // cancelled by Close; handlers that wait use it
	cancel context.CancelFunc

	wg        sync.WaitGroup
	closeOnce sync.Once

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
	count  int
}

func listen() (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &server{ln: ln, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}, nil
}

// serve runs handle on each accepted connection in its own goroutine. The
// connection is closed when handle returns or on Close, whichever is first.
func (s *server) serve(handle func(net.Conn)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return // listener closed
			}
			if !s.track(c) {
				return
			}
			s.mu.Lock()
			s.count++
			s.mu.Unlock()
			// The accept goroutine still holds a count, so this Add cannot
			// race with Wait in Close.
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer s.untrack(c)
				handle(c)
			}()
		}
	}()
}

// track registers c so Close can close it; it closes c and reports false
// if the server is already closed.
func (s *server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

// spawn runs f as a tracked goroutine; call it only from a handler, whose own
// count keeps the WaitGroup above zero.
func (s *server) spawn(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// Connections is how many TCP connections the server has accepted.
func (s *server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// Close stops accepting, closes every open socket and waits until every
// goroutine of the server has returned. It is safe to call more than once.
func (s *server) Close() {
	s.closeOnce.Do(func() {
		s.ln.Close()
		s.cancel()
		s.mu.Lock()
		s.closed = true
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	})
	s.wg.Wait()
}

// Addr is the listening address, "127.0.0.1:port".
func (s *server) Addr() string { return s.ln.Addr().String() }

// Port is the listening TCP port.
func (s *server) Port() int {
	_, p, _ := net.SplitHostPort(s.Addr())
	n, _ := strconv.Atoi(p)
	return n
}
