// A proxy that goes quiet: it models a database that stops answering
// mid-statement, so tests can prove a client gives up on its deadline
// instead of hanging on a connection that is open but dead.

package fakedb

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// StallingProxy copies bytes unchanged between each client and target until
// the client's stream contains the trigger. From then on that connection
// forwards nothing in either direction and stops reading (a server chunk
// already in flight is dropped), yet both sockets stay open until Close.
//
// The read that completes the trigger is dropped whole, including any bytes
// of it before the trigger; bytes of a trigger split across reads that were
// already forwarded stay forwarded. Bytes are never held back waiting for a
// possible trigger, so short protocol messages pass at once.
type StallingProxy struct {
	*server
	target  string
	trigger []byte

	mu      sync.Mutex
	stalled int
}

// StartStallingProxy starts a StallingProxy on 127.0.0.1 in front of target
// (host:port).
func StartStallingProxy(target string, trigger []byte) (*StallingProxy, error) {
	if len(trigger) == 0 {
		return nil, errors.New("fakedb: empty trigger")
	}
	s, err := listen()
	if err != nil {
		return nil, err
	}
	p := &StallingProxy{server: s, target: target, trigger: bytes.Clone(trigger)}
	s.serve(p.handle)
	return p, nil
}

// Stalled is how many connections have seen the trigger and gone quiet.
func (p *StallingProxy) Stalled() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stalled
}

func (p *StallingProxy) handle(client net.Conn) {
	var d net.Dialer
	upstream, err := d.DialContext(p.ctx, "tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(upstream) {
		return
	}
	defer p.untrack(upstream)

	var stalled atomic.Bool
	p.spawn(func() { // server -> client
		buf := make([]byte, 32<<10)
		for {
			n, err := upstream.Read(buf)
			if stalled.Load() {
				return
			}
			if n > 0 {
				if _, err := client.Write(buf[:n]); err != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		if !stalled.Load() {
			client.Close() // pass the hang-up on; unblocks the other direction
		}
	})

	// client -> server, watching for the trigger across read boundaries.
	keep := len(p.trigger) - 1
	var tail []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			window := append(tail, buf[:n]...)
			if bytes.Contains(window, p.trigger) {
				stalled.Store(true)
				// Stop the other direction's pending read without closing.
				upstream.SetReadDeadline(time.Unix(1, 0))
				p.mu.Lock()
				p.stalled++
				p.mu.Unlock()
				<-p.ctx.Done() // hold both sockets open until Close
				return
			}
			if _, err := upstream.Write(buf[:n]); err != nil {
				return
			}
			if len(window) > keep {
				window = window[len(window)-keep:]
			}
			tail = append([]byte(nil), window...)
		}
		if err != nil {
			return // client gone: the deferred closes hang up upstream
		}
	}
}
