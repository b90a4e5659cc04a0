package dbsession

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Servers at the master's address that need no password to do harm: they
// accept whatever authentication comes (MD5, mysql_native_password) and
// then answer so as to exhaust the function's memory. The function's
// answer must survive them.

// serve accepts connections on a loopback port until the test ends.
func serve(t *testing.T, handle func(net.Conn)) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); handle(c) }()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// acceptingMySQL is a MySQL server that takes any password and answers
// every query with a result set of 2^40 columns, and any other command
// with a short OK (7 bytes: too short for a prepared statement's).
func acceptingMySQL(t *testing.T) int {
	write := func(c net.Conn, seq byte, p []byte) {
		n := len(p)
		c.Write(append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, p...))
	}
	read := func(c net.Conn) (byte, []byte, error) {
		var h [4]byte
		if _, err := io.ReadFull(c, h[:]); err != nil {
			return 0, nil, err
		}
		p := make([]byte, int(h[0])|int(h[1])<<8|int(h[2])<<16)
		_, err := io.ReadFull(c, p)
		return h[3], p, err
	}
	return serve(t, func(c net.Conn) {
		// protocol 41, secure connection, plugin auth, long password, connect with db
		caps := uint32(0x200 | 0x8000 | 0x80000 | 0x1 | 0x8)
		hs := append([]byte{10}, "5.7.0-fake\x00"...)
		hs = binary.LittleEndian.AppendUint32(hs, 1)
		hs = append(hs, "abcdefgh\x00"...)
		hs = binary.LittleEndian.AppendUint16(hs, uint16(caps))
		hs = append(hs, 33)
		hs = binary.LittleEndian.AppendUint16(hs, 2)
		hs = binary.LittleEndian.AppendUint16(hs, uint16(caps>>16))
		hs = append(hs, 21)
		hs = append(hs, make([]byte, 10)...)
		hs = append(hs, "ijklmnopqrst\x00mysql_native_password\x00"...)
		write(c, 0, hs)
		seq, _, err := read(c)
		if err != nil {
			return
		}
		write(c, seq+1, []byte{0, 0, 0, 2, 0, 0, 0}) // OK: any password will do
		for {
			_, cmd, err := read(c)
			if err != nil {
				return
			}
			if cmd[0] == 0x03 { // COM_QUERY
				write(c, 1, binary.LittleEndian.AppendUint64([]byte{0xfe}, 1<<40))
			} else {
				write(c, 1, []byte{0, 0, 0, 2, 0, 0, 0})
			}
		}
	})
}

// TestMySQLColumnFlood: a result set claiming 2^40 columns, which the
// driver would allocate for at once (a fatal out-of-memory, no answer at
// all), is refused at its head.
func TestMySQLColumnFlood(t *testing.T) {
	port := acceptingMySQL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	a, err := Open(ctx, Endpoint{Family: MySQL, Host: "127.0.0.1", Port: port, Database: "app", Username: "master", Password: "x"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Exists(ctx, "SELECT 1 FROM users WHERE name = ?", "someone"); err == nil {
		t.Fatal("a 2^40-column answer was taken")
	}
}

// TestDriverFailureSurvived: the MySQL driver indexes a prepared
// statement's answer without checking its length. A statement the driver
// prepares on the server (its arguments do not match its placeholders) is
// answered with a short OK: the session fails, the function does not.
func TestDriverFailureSurvived(t *testing.T) {
	port := acceptingMySQL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for name, call := range map[string]func(Session) error{
		"Exec":        func(s Session) error { return s.Exec(ctx, "DO ?, ?", "x") },
		"Exists":      func(s Session) error { _, err := s.Exists(ctx, "SELECT ?, ?", "x"); return err },
		"QueryString": func(s Session) error { _, err := s.QueryString(ctx, "SELECT ?, ?", "x"); return err },
	} {
		s, err := Open(ctx, Endpoint{Family: MySQL, Host: "127.0.0.1", Port: port, Database: "app", Username: "master", Password: "x"})
		if err != nil {
			t.Fatal(err)
		}
		if err := call(s); !errors.Is(err, ErrDriverFailed) {
			t.Fatalf("%s: %v", name, err)
		}
		// Then at once, not at the deadline.
		if err := s.Exec(ctx, "DO 1"); !errors.Is(err, ErrDriverFailed) || ctx.Err() != nil {
			t.Fatalf("%s, then Exec: %v", name, err)
		}
		s.Close()
	}
}

// TestPostgresRowFlood: endless rows, each under the message bound, in
// answer to a one-row query are not held in memory, and end at the
// session's byte budget, not only at the deadline.
func TestPostgresRowFlood(t *testing.T) {
	port := serve(t, func(c net.Conn) {
		b := pgproto3.NewBackend(c, c)
		if _, err := b.ReceiveStartupMessage(); err != nil {
			return
		}
		b.Send(&pgproto3.AuthenticationMD5Password{Salt: [4]byte{1, 2, 3, 4}})
		b.Flush()
		b.SetAuthType(pgproto3.AuthTypeMD5Password)
		if _, err := b.Receive(); err != nil {
			return
		}
		b.Send(&pgproto3.AuthenticationOk{})
		b.Send(&pgproto3.BackendKeyData{ProcessID: 1, SecretKey: []byte{0, 0, 0, 1}})
		b.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		b.Flush()
		row := make([]byte, 900<<10)
		for {
			m, err := b.Receive()
			if err != nil {
				return
			}
			if _, ok := m.(*pgproto3.Sync); !ok {
				continue
			}
			b.Send(&pgproto3.ParseComplete{})
			b.Send(&pgproto3.BindComplete{})
			b.Send(&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("x"), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1}}})
			for {
				b.Send(&pgproto3.DataRow{Values: [][]byte{row}})
				if b.Flush() != nil {
					return
				}
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := Open(ctx, Endpoint{Family: Postgres, Host: "127.0.0.1", Port: port, Database: "app", Username: "master", Password: "x"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var peak uint64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				peak = max(peak, m.HeapAlloc)
			}
		}
	}()
	_, err = a.Exists(ctx, "SELECT 1 FROM users WHERE name = $1", "someone")
	close(done)
	<-sampled // peak is the sampler's until it has stopped
	if err == nil || peak > 64<<20 {
		t.Fatalf("Exists: %v, with %d MiB of heap at its peak (the functions have 128 MB)", err, peak>>20)
	}
	if !strings.Contains(fmt.Sprint(err), ErrOverBudget.Error()) {
		t.Fatalf("the flood ended otherwise than at the budget: %v", err)
	}
}
