// A PostgreSQL server that refuses TLS and asks for the password in
// cleartext: any client that answers has handed its password to whoever
// sits on the network path.

package fakedb

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

const (
	pgSSLRequest    = 80877103
	pgGSSENCRequest = 80877104
	pgCancelRequest = 80877102
	pgMaxMessage    = 1 << 20 // the fake never needs more; a guard against junk lengths
)

// CleartextPostgres is a fake PostgreSQL server that answers 'N' to
// SSLRequest and GSSENCRequest, then asks for AuthenticationCleartextPassword
// and records every password it is sent.
type CleartextPostgres struct {
	*server

	mu        sync.Mutex
	passwords []string
}

// StartCleartextPostgres starts a CleartextPostgres on 127.0.0.1.
func StartCleartextPostgres() (*CleartextPostgres, error) {
	s, err := listen()
	if err != nil {
		return nil, err
	}
	p := &CleartextPostgres{server: s}
	s.serve(p.handle)
	return p, nil
}

// Passwords returns every password received, in order of arrival.
func (p *CleartextPostgres) Passwords() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.passwords...)
}

func (p *CleartextPostgres) handle(c net.Conn) {
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)

	// Startup phase: refuse encryption as often as asked.
	for {
		body, err := readStartup(r)
		if err != nil || len(body) < 4 {
			return
		}
		code := binary.BigEndian.Uint32(body)
		if code == pgSSLRequest || code == pgGSSENCRequest {
			if _, err := c.Write([]byte{'N'}); err != nil {
				return
			}
			continue
		}
		if code == pgCancelRequest {
			return
		}
		break // a StartupMessage of some protocol version
	}

	pgMsg(w, 'R', be32(3)) // AuthenticationCleartextPassword
	if w.Flush() != nil {
		return
	}
	typ, body, err := readPgMessage(r)
	if err != nil || typ != 'p' {
		return
	}
	if n := len(body); n > 0 && body[n-1] == 0 {
		body = body[:n-1]
	}
	p.mu.Lock()
	p.passwords = append(p.passwords, string(body))
	p.mu.Unlock()

	pgMsg(w, 'R', be32(0)) // AuthenticationOk
	for _, kv := range [][2]string{
		{"server_version", "15.0"},
		{"client_encoding", "UTF8"},
		{"server_encoding", "UTF8"},
		{"standard_conforming_strings", "on"},
		{"DateStyle", "ISO, MDY"},
		{"integer_datetimes", "on"},
	} {
		pgMsg(w, 'S', cstr(kv[0]), cstr(kv[1]))
	}
	pgMsg(w, 'K', be32(4242), be32(0x5ec7e7)) // BackendKeyData
	pgMsg(w, 'Z', []byte{'I'})
	if w.Flush() != nil {
		return
	}

	// Query phase: enough for Exec, Ping and a clean Close.
	failed := false // in the extended protocol, skip to Sync after an error
	for {
		typ, _, err := readPgMessage(r)
		if err != nil {
			return
		}
		switch typ {
		case 'X':
			return
		case 'Q':
			pgMsg(w, 'C', cstr("SELECT 0"))
			pgMsg(w, 'Z', []byte{'I'})
		case 'S':
			failed = false
			pgMsg(w, 'Z', []byte{'I'})
		case 'H': // Flush: nothing is pending
		default: // Parse, Bind, Describe, Execute, Close, FunctionCall...
			if !failed {
				failed = true
				pgMsg(w, 'E',
					[]byte{'S'}, cstr("ERROR"),
					[]byte{'C'}, cstr("0A000"),
					[]byte{'M'}, cstr(fmt.Sprintf("fakedb: message %q not supported", typ)),
					[]byte{0})
			}
		}
		if w.Flush() != nil {
			return
		}
	}
}

// readStartup reads one untyped startup-phase packet and returns its body.
func readStartup(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(hdr[:]))
	if n < 8 || n > pgMaxMessage {
		return nil, errors.New("fakedb: bad startup length")
	}
	body := make([]byte, n-4)
	_, err := io.ReadFull(r, body)
	return body, err
}

// readPgMessage reads one typed protocol message.
func readPgMessage(r io.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := int(binary.BigEndian.Uint32(hdr[1:]))
	if n < 4 || n > pgMaxMessage {
		return 0, nil, errors.New("fakedb: bad message length")
	}
	body := make([]byte, n-4)
	_, err := io.ReadFull(r, body)
	return hdr[0], body, err
}

// pgMsg buffers one typed message made of the given body parts.
func pgMsg(w *bufio.Writer, typ byte, parts ...[]byte) {
	n := 4
	for _, p := range parts {
		n += len(p)
	}
	w.WriteByte(typ)
	w.Write(be32(uint32(n)))
	for _, p := range parts {
		w.Write(p)
	}
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func cstr(s string) []byte { return append([]byte(s), 0) }
