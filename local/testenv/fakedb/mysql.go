// A MySQL 8 server that offers no TLS and asks for caching_sha2_password
// full authentication, then hands out its own RSA key: a client that takes
// an unverified key from the server encrypts its password for the attacker.

package fakedb

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"sync"
)

// Capability flags, from the MySQL protocol documentation.
const (
	myClientLongPassword     = 1 << 0 // set by every MySQL server; clients read its absence as MariaDB
	myClientLongFlag         = 1 << 2
	myClientConnectWithDB    = 1 << 3
	myClientProtocol41       = 1 << 9
	myClientTransactions     = 1 << 13
	myClientSecureConnection = 1 << 15
	myClientMultiResults     = 1 << 17
	myClientPluginAuth       = 1 << 19
	myClientConnectAttrs     = 1 << 20
	myClientPluginAuthLenenc = 1 << 21
	myClientDeprecateEOF     = 1 << 24

	myServerCaps = myClientLongPassword | myClientLongFlag | myClientConnectWithDB |
		myClientProtocol41 | myClientTransactions | myClientSecureConnection |
		myClientMultiResults | myClientPluginAuth | myClientConnectAttrs |
		myClientPluginAuthLenenc | myClientDeprecateEOF // no CLIENT_SSL (1<<11): TLS is never offered

	myStatusAutocommit = 0x0002
	myMaxPacket        = 1<<24 - 1
)

// Command bytes of the command phase.
const (
	myComQuit   = 0x01
	myComInitDB = 0x02
	myComQuery  = 0x03
	myComPing   = 0x0e
)

// RSAKeyMySQL is a fake MySQL 8 server that drives caching_sha2_password
// into full authentication without TLS, serves its own RSA public key on
// request, decrypts the password the client sends and records it.
type RSAKeyMySQL struct {
	*server
	key    *rsa.PrivateKey
	pubPEM []byte

	mu          sync.Mutex
	passwords   []string
	usernames   []string
	keyRequests int
	nextID      uint32
	// huge makes the greeting one packet of more than 16 MiB, split into
	// chunks as the protocol splits it: its second chunk starts with the
	// version's NUL, which reads like an OK packet to a client that takes
	// each chunk's first byte for a packet type.
	huge bool
}

// StartHugeGreetingMySQL is StartRSAKeyMySQL with a greeting of more than
// 16 MiB (see huge).
func StartHugeGreetingMySQL() (*RSAKeyMySQL, error) {
	m, err := startRSAKeyMySQL(true)
	return m, err
}

// StartRSAKeyMySQL generates an RSA 2048 key pair and starts an RSAKeyMySQL
// on 127.0.0.1.
func StartRSAKeyMySQL() (*RSAKeyMySQL, error) { return startRSAKeyMySQL(false) }

func startRSAKeyMySQL(huge bool) (*RSAKeyMySQL, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	s, err := listen()
	if err != nil {
		return nil, err
	}
	m := &RSAKeyMySQL{
		server: s,
		key:    key,
		pubPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
		huge:   huge,
	}
	s.serve(m.handle)
	return m, nil
}

// Passwords returns every password recovered, in order of arrival.
func (m *RSAKeyMySQL) Passwords() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.passwords...)
}

// Usernames returns the user name of every handshake response received.
func (m *RSAKeyMySQL) Usernames() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.usernames...)
}

// KeyRequests is how many times a client asked for the server's public key.
func (m *RSAKeyMySQL) KeyRequests() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.keyRequests
}

// PublicKey is the key the server hands out, for tests that pin it.
func (m *RSAKeyMySQL) PublicKey() *rsa.PublicKey { return &m.key.PublicKey }

func (m *RSAKeyMySQL) handle(c net.Conn) {
	mc := &myConn{r: bufio.NewReader(c), w: c}
	scramble := newScramble()

	m.mu.Lock()
	m.nextID++
	id := m.nextID
	m.mu.Unlock()

	// Protocol::HandshakeV10
	hs := []byte{10}
	if m.huge {
		hs = append(hs, bytes.Repeat([]byte{'8'}, myMaxPacket-1)...) // the NUL below opens the second chunk
	} else {
		hs = append(hs, "8.0.36-fake"...)
	}
	hs = append(hs, 0)
	hs = binary.LittleEndian.AppendUint32(hs, id)
	hs = append(hs, scramble[:8]...)
	hs = append(hs, 0)
	hs = binary.LittleEndian.AppendUint16(hs, myServerCaps&0xffff)
	hs = append(hs, 255) // utf8mb4_0900_ai_ci
	hs = binary.LittleEndian.AppendUint16(hs, myStatusAutocommit)
	hs = binary.LittleEndian.AppendUint16(hs, myServerCaps>>16)
	hs = append(hs, byte(len(scramble)+1))
	hs = append(hs, make([]byte, 10)...)
	hs = append(hs, scramble[8:]...)
	hs = append(hs, 0)
	hs = append(hs, "caching_sha2_password\x00"...)
	if mc.write(0, hs) != nil {
		return
	}

	// HandshakeResponse41
	seq, resp, err := mc.read()
	if err != nil {
		return
	}
	user, ok := parseHandshakeResponse(resp)
	if !ok {
		return // an SSLRequest or junk: there is no TLS here
	}
	m.mu.Lock()
	m.usernames = append(m.usernames, user)
	m.mu.Unlock()

	// AuthMoreData: perform full authentication.
	if mc.write(seq+1, []byte{0x01, 0x04}) != nil {
		return
	}
	seq, pkt, err := mc.read()
	if err != nil {
		return
	}
	if len(pkt) == 1 && pkt[0] == 0x02 {
		m.mu.Lock()
		m.keyRequests++
		m.mu.Unlock()
		if mc.write(seq+1, append([]byte{0x01}, m.pubPEM...)) != nil {
			return
		}
		if seq, pkt, err = mc.read(); err != nil {
			return
		}
	}
	if pw, ok := m.recoverPassword(pkt, scramble); ok {
		m.mu.Lock()
		m.passwords = append(m.passwords, pw)
		m.mu.Unlock()
	}
	if mc.write(seq+1, myOK()) != nil {
		return
	}

	// Command phase: each command restarts the sequence at 0.
	for {
		_, cmd, err := mc.read()
		if err != nil || len(cmd) == 0 {
			return
		}
		var reply []byte
		switch cmd[0] {
		case myComQuit:
			return
		case myComQuery, myComPing, myComInitDB:
			reply = myOK()
		default:
			reply = []byte{0xff}
			reply = binary.LittleEndian.AppendUint16(reply, 1047) // ER_UNKNOWN_COM_ERROR
			reply = append(reply, "#08S01fakedb: unknown command"...)
		}
		if mc.write(1, reply) != nil {
			return
		}
	}
}

// recoverPassword undoes what the client did to the password: RSA-OAEP
// (SHA-1) over password+NUL XORed with the scramble, or plain password+NUL.
func (m *RSAKeyMySQL) recoverPassword(pkt, scramble []byte) (string, bool) {
	if len(pkt) == m.key.Size() {
		plain, err := rsa.DecryptOAEP(sha1.New(), nil, m.key, pkt, nil)
		if err != nil {
			// Encrypted with some other key: the client pinned one.
			return "", false
		}
		for i := range plain {
			plain[i] ^= scramble[i%len(scramble)]
		}
		pkt = plain
	}
	if n := len(pkt); n > 0 && pkt[n-1] == 0 {
		return string(pkt[:n-1]), true
	}
	return "", false
}

// parseHandshakeResponse returns the user name from a HandshakeResponse41;
// false for an SSLRequest, which stops after the fixed part.
func parseHandshakeResponse(p []byte) (string, bool) {
	const fixed = 4 + 4 + 1 + 23
	if len(p) <= fixed {
		return "", false
	}
	rest := p[fixed:]
	i := bytes.IndexByte(rest, 0)
	if i < 0 {
		return "", false
	}
	return string(rest[:i]), true
}

// newScramble returns 20 bytes the way MySQL makes them: 7-bit, never NUL
// or '$', so clients that read it as a C string see all of it.
func newScramble() []byte {
	b := make([]byte, 20)
	rand.Read(b)
	for i := range b {
		b[i] &= 0x7f
		if b[i] == 0 || b[i] == '$' {
			b[i]++
		}
	}
	return b
}

// myOK is an OK packet: no rows, no insert id, autocommit, no warnings.
func myOK() []byte {
	return []byte{0x00, 0, 0, byte(myStatusAutocommit), byte(myStatusAutocommit >> 8), 0, 0}
}

// myConn frames MySQL packets: 3-byte little-endian length, 1-byte sequence.
type myConn struct {
	r io.Reader
	w io.Writer
}

func (c *myConn) read() (byte, []byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
	if n == myMaxPacket {
		return 0, nil, errors.New("fakedb: multi-packet payloads not supported")
	}
	p := make([]byte, n)
	_, err := io.ReadFull(c.r, p)
	return hdr[3], p, err
}

// write sends payload as one packet, in chunks of at most 16 MiB - 1 as
// the protocol splits a larger one (a chunk of exactly that size is
// followed by another, empty if nothing is left).
func (c *myConn) write(seq byte, payload []byte) error {
	for {
		n := min(len(payload), myMaxPacket)
		pkt := append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload[:n]...)
		if _, err := c.w.Write(pkt); err != nil {
			return err
		}
		seq++
		payload = payload[n:]
		if n < myMaxPacket {
			return nil
		}
	}
}
