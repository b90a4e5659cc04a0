// A server that accepts and then says nothing: the client must give up on
// its own deadline, because no byte will ever arrive to end a read.

package fakedb

import "net"

// Silent accepts TCP connections and never reads or writes a byte; each
// stays open until Close.
type Silent struct {
	*server
}

// StartSilent starts a Silent on 127.0.0.1.
func StartSilent() (*Silent, error) {
	s, err := listen()
	if err != nil {
		return nil, err
	}
	s.serve(func(net.Conn) { <-s.ctx.Done() })
	return &Silent{server: s}, nil
}
