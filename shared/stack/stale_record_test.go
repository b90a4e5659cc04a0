package stack_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/dbcreds/provisioner/local/testenv/core"
	"github.com/dbcreds/provisioner/shared/dbgrants"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/provision"
)

// TestStaleRecordSparesANewcomer (the twenty-second review): a ledger
// record marked made was trusted without proof. Once its user is gone while the record stays (the
// docs' own remedy "drop the user by hand and retry the stack deletion", a
// Forget that failed after the drop, a DBA's cleanup), another team may make
// a user of that name (it is new again); the stale record's stack then acts
// on the newcomer: its Update re-granted the newcomer onto the stack's
// schemas, its Delete dropped the newcomer. Now PostgreSQL tells them apart
// by the role's oid (the Delete forgets the record and leaves the user);
// MySQL and MariaDB, which keep no identity, by the login the secret
// holds, and a user that does not log in with it is a conflict.
func TestStaleRecordSparesANewcomer(t *testing.T) {
	for _, engine := range []string{"postgres", "mariadb"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			s := database(t, engine)
			l := lifecycle(t)
			b := make([]byte, 3)
			rand.Read(b)
			name := "stale_" + hex.EncodeToString(b)

			// Stack A makes its user; the ledger marks it made.
			body := userRequest(t, engine, s, `, "username": "`+name+`", "privileges": "readonly"`)
			created, err := l.Create(ctx, resource(t, "create"), decode(t, body))
			if err != nil {
				t.Fatalf("%v (%v)", err, errcode.Public(err).Err)
			}
			// The user goes while the record stays (here: by hand, as the
			// docs advise when a Delete cannot finish).
			if engine == "mariadb" {
				asMaster(t, s, "DROP USER '"+name+"'@'%'")
			} else {
				if err := s.AsMaster("GRANT "+name+" TO master", "DROP OWNED BY "+name, "DROP ROLE "+name, "DROP ROLE IF EXISTS "+name+"_clone"); err != nil {
					t.Fatal(err)
				}
			}

			// Team B (HTTP API caller "payments") makes a user of the name,
			// new again, for itself.
			svc := core.Service(t)
			theirs := decode(t, userRequest(t, engine, s, `, "username": "`+name+`"`))
			theirs.Provenance = provision.Provenance{By: "arn:aws:sts::123456789012:assumed-role/payments", Via: "http-api",
				Caller: dbgrants.Caller{Kind: dbgrants.KindAPI, Name: "payments"}}
			victim, err := svc.Create(ctx, theirs, "")
			if err != nil {
				t.Fatalf("team B's create: %v (%v)", err, errcode.Public(err).Err)
			}
			if err := login(t, engine, victim.ARN, "SELECT 1"); err != nil {
				t.Fatalf("team B's user does not log in: %v", err)
			}

			// Stack A updates its privileges: the master revokes and grants
			// on team B's user.
			newBody := strings.Replace(body, `"privileges": "readonly"`, `"privileges": "readwrite"`, 1)
			if _, err := l.Update(ctx, resource(t, "update"), created.ARN, decode(t, body), decode(t, newBody)); errcode.Of(err) != errcode.Conflict {
				t.Errorf("stack A's Update on team B's user %s: %v", name, err)
			}

			// Stack A is deleted: the master drops team B's user.
			_, err = l.Delete(ctx, resource(t, "delete"), created.ARN, provision.DeleteOptions{ForceDeleteWithoutRecovery: true}, provision.Request{})
			if want := map[string]errcode.Code{"postgres": "", "mariadb": errcode.Conflict}[engine]; errcode.Of(err) != want {
				t.Errorf("stack A's Delete: %v, want %q", err, want)
			}
			if exists, err := s.UserExists(name); err != nil || !exists {
				t.Errorf("stack A's Delete dropped team B's user %s (exists %v, %v)", name, exists, err)
			}
			if err := login(t, engine, victim.ARN, "SELECT 1"); err != nil {
				t.Errorf("team B's secret no longer logs in: %v", err)
			}
		})
	}
}
