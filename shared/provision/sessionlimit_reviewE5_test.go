package provision_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/dbcreds/provisioner/local/testenv/core"
	"github.com/dbcreds/provisioner/local/testenv/dbserver"
	"github.com/dbcreds/provisioner/shared/provision"
)

// userCountingProxy forwards PostgreSQL connections to target and keeps,
// for each user the startup message names (and for all of them together,
// allUsers), the most connections it held open at once: master sessions
// apart from login proofs.
// allUsers counts every connection, whoever it is for.
const allUsers = "\x00all"

type userCountingProxy struct {
	port int
	mu   sync.Mutex
	open map[string]int
	most map[string]int
}

func startUserCountingProxy(t *testing.T, target string) *userCountingProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := &userCountingProxy{port: l.Addr().(*net.TCPAddr).Port, open: map[string]int{}, most: map[string]int{}}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.serve(c, target)
		}
	}()
	return p
}

// readMessage reads one untyped startup-phase message (length first).
func readMessage(r io.Reader) ([]byte, error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(head[:])
	if n < 8 || n > 10000 {
		return nil, io.ErrUnexpectedEOF
	}
	msg := make([]byte, n)
	copy(msg, head[:])
	_, err := io.ReadFull(r, msg[4:])
	return msg, err
}

func (p *userCountingProxy) serve(c net.Conn, target string) {
	defer c.Close()
	s, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer s.Close()
	user := "?"
	for {
		msg, err := readMessage(c)
		if err != nil {
			return
		}
		if _, err := s.Write(msg); err != nil {
			return
		}
		code := binary.BigEndian.Uint32(msg[4:8])
		if code == 80877103 || code == 80877104 { // SSLRequest, GSSENCRequest
			var answer [1]byte
			if _, err := io.ReadFull(s, answer[:]); err != nil {
				return
			}
			if _, err := c.Write(answer[:]); err != nil {
				return
			}
			if answer[0] != 'N' {
				break // encrypted from here: the user stays unknown
			}
			continue
		}
		fields := bytes.Split(msg[8:], []byte{0})
		for i := 0; i+1 < len(fields); i += 2 {
			if string(fields[i]) == "user" {
				user = string(fields[i+1])
			}
		}
		break
	}
	p.mu.Lock()
	for _, k := range []string{user, allUsers} {
		p.open[k]++
		p.most[k] = max(p.most[k], p.open[k])
	}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(s, c); s.Close(); done <- struct{}{} }()
	go func() { io.Copy(c, s); c.Close(); done <- struct{}{} }()
	<-done
	<-done
	p.mu.Lock()
	p.open[user]--
	p.open[allUsers]--
	p.mu.Unlock()
}

// resetUser returns the most connections user held at once since the last
// reset.
func (p *userCountingProxy) resetUser(user string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	most := p.most[user]
	p.most[user] = p.open[user]
	return most
}

// TestDropHoldsOneMasterSessionPerSlotReviewE5: the second review found
// that a PostgreSQL Drop (a stack's Delete, an API DELETE, an expiry,
// abandon's dropIfProven) opens a second master session inside its slot:
// Drop's revokeElsewhere connects to each other database that names the
// user in pg_shdepend while the slot's first session stays open, and the
// user decides that it does (one ALTER DEFAULT PRIVILEGES in any database
// it may connect to). No login check is open then, so the docs now state
// the bound as it is: each slot stands for the master's session and at
// most one more (a login check, or the master's session to another
// database while dropping), twice DatabaseSessionLimit in all. With a
// limit of 1, the Drop holds at most 2 master sessions and drops the user.
func TestDropHoldsOneMasterSessionPerSlotReviewE5(t *testing.T) {
	ctx := context.Background()
	s := database(t, "postgres")
	proxy := startUserCountingProxy(t, net.JoinHostPort(s.Host, strconv.Itoa(s.Port)))
	master := core.StoreMaster(t, "127.0.0.1", proxy.port)
	const username = "two_masters_e5"
	r := byStack(decode(t, `{"name": "`+uniqueName(t)+`", "engine": "postgres", "dbname": "`+dbserver.Database+`", "masterSecretArn": "`+master+`", "createDatabaseUser": true, "username": "`+username+`"}`))
	svc := boundedService(t, testConfig(t, testGrants), 1)
	made, err := svc.Create(ctx, r, "drop-two-e5")
	if err != nil {
		t.Fatal(err)
	}

	// The user, in another database of the server: default privileges of
	// its own, which pg_shdepend records there.
	var v struct{ Username, Password string }
	json.Unmarshal([]byte(aws.ToString(secretValue(t, client(t, primary), made.ARN).SecretString)), &v)
	other := dbserver.Open("postgres", s.Host, s.Port, "postgres", v.Username, v.Password)
	if err := dbserver.Run(other, "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC"); err != nil {
		other.Close()
		t.Fatalf("the user could not name itself in another database: %v", err)
	}
	other.Close()

	if most := proxy.resetUser(dbserver.MasterUser); most != 1 {
		t.Fatalf("the Create held %d master sessions at once; the proxy counts wrong", most)
	}
	sec, err := svc.Store().Describe(ctx, made.ARN)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Remove(ctx, sec, "cloudformation", provision.DeleteOptions{ForceDeleteWithoutRecovery: true}); err != nil {
		t.Fatalf("the delete: %v", err)
	}
	if exists, err := s.UserExists(username); err != nil || exists {
		t.Fatalf("the user was not dropped (%v, %v)", exists, err)
	}
	if most := proxy.resetUser(dbserver.MasterUser); most > 2 {
		t.Fatalf("with DatabaseSessionLimit 1, one Drop held %d master sessions on the database at once; the stated bound is 2 per slot", most)
	}
}
