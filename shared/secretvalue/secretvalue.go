// Package secretvalue makes the value of a new secret: a supplied value
// held to Secrets Manager's size, a template with a generated password
// added, or a database secret with generated credentials in the JSON its
// engine's rotation function reads. A retry with the same idempotency key
// names the same user; passwords always come from crypto/rand.
//
// It generates and shapes; it stores nothing and reads no request. It must
// not import provision, secretuser or a trigger.
package secretvalue

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"io"
	"strings"

	"github.com/dbcreds/provisioner/shared/credential"
	"github.com/dbcreds/provisioner/shared/dbsecret"
	"github.com/dbcreds/provisioner/shared/dbuser"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/secretstore"
)

// MaxBytes is the most a secret value may hold, in Secrets Manager.
const MaxBytes = 65536

// generatedUsernameLength fits every engine's clone cap (mysql and db2
// allow 16 - len(dbuser.CloneSuffix) = 10).
const generatedUsernameLength = 10

// Kept are the credentials an update keeps from the stored secret: a
// password changes only through rotation, never through a property change.
type Kept struct {
	Username string
	Password string
}

// Supplied is a value the request gives whole, as a string or as bytes.
func Supplied(secretString string, secretBinary []byte) (secretstore.Value, error) {
	if secretString != "" {
		if len(secretString) > MaxBytes {
			return secretstore.Value{}, errcode.Invalidf("secretString", "must be at most %d bytes, got %d", MaxBytes, len(secretString))
		}
		return secretstore.Value{String: secretString}, nil
	}
	if len(secretBinary) > MaxBytes {
		return secretstore.Value{}, errcode.Invalidf("secretBinary", "must be at most %d bytes, got %d", MaxBytes, len(secretBinary))
	}
	return secretstore.Value{Binary: secretBinary}, nil
}

// Template is CloudFormation's GenerateSecretString: the JSON object
// template with key set to a password drawn under policy (or keep's).
func Template(template, key string, policy credential.Policy, keep *Kept) (secretstore.Value, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal([]byte(template), &members); err != nil || members == nil {
		return secretstore.Value{}, errcode.Invalidf("secretStringTemplate", "must be a JSON object, as in CloudFormation's GenerateSecretString")
	}
	if _, taken := members[key]; taken {
		return secretstore.Value{}, errcode.Invalidf("generateStringKey", "%s is already a key of secretStringTemplate", errcode.Quote(key))
	}
	if err := policy.Check(); err != nil {
		return secretstore.Value{}, err
	}
	var password string
	if keep != nil {
		password = keep.Password
	} else {
		var err error
		if password, err = credential.Password(policy); err != nil {
			return secretstore.Value{}, err
		}
	}
	value, err := insertKey(template, key, password)
	if err != nil {
		return secretstore.Value{}, err
	}
	return sized(value, "secretStringTemplate")
}

// Database is engine's secret for f, with a password drawn under policy
// and, when f names no username, one drawn from idempotencyKey (any, when
// there is none). An update passes keep: its password stays, and so does
// its username when f names none or rotation has switched to the clone.
// It returns the value and the username it holds.
func Database(engine dbsecret.Engine, f dbsecret.Fields, policy credential.Policy, idempotencyKey string, keep *Kept) (secretstore.Value, string, error) {
	var password string
	var err error
	switch {
	case keep != nil:
		password = keep.Password
		if f.Username == "" || isCloneOf(keep.Username, f.Username) {
			// No username asked for, or the alternating-users rotation
			// has switched to the clone: the stored one is the live one.
			f.Username = keep.Username
		}
	default:
		if f.Username == "" {
			src := io.Reader(rand.Reader)
			if idempotencyKey != "" {
				src = keyedStream(idempotencyKey)
			}
			// Drawn again (from the same stream, so a retry draws the
			// same) while the name is one an engine reserves.
			gen := credential.NewGenerator(src)
			for f.Username == "" || dbuser.Reserved(f.Username) {
				if f.Username, err = gen.Username(generatedUsernameLength); err != nil {
					return secretstore.Value{}, "", err
				}
			}
		}
		// Without requireEachIncludedType a policy that allows spaces can
		// draw nothing else; no database takes such a password.
		for tries := 0; tries == 0 || strings.Trim(password, " ") == "" && tries < 100; tries++ {
			if password, err = credential.Password(policy); err != nil {
				return secretstore.Value{}, "", err
			}
		}
	}
	value, err := engine.Shape(f, password)
	if err != nil {
		return secretstore.Value{}, "", err
	}
	v, err := sized(string(value), "extraFields")
	return v, f.Username, err
}

// isCloneOf reports whether stored is the alternating-users clone of user
// (Oracle's templates upper-case the suffix).
func isCloneOf(stored, user string) bool {
	return user != "" && strings.EqualFold(stored, dbuser.CloneOf(user))
}

// sized refuses a value Secrets Manager would not store; field is what
// made it large.
func sized(value, field string) (secretstore.Value, error) {
	if len(value) > MaxBytes {
		return secretstore.Value{}, errcode.Invalidf(field, "makes the secret %d bytes; Secrets Manager stores at most %d", len(value), MaxBytes)
	}
	return secretstore.Value{String: value}, nil
}

// insertKey adds "key": value as the last member of the JSON object
// template, keeping the template's own text and key order as written.
func insertKey(template, key, value string) (string, error) {
	body := strings.TrimRight(template, " \t\r\n")
	body = strings.TrimSuffix(body, "}")
	var buf bytes.Buffer
	buf.WriteString(body)
	if strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(body), "{")) != "" {
		buf.WriteByte(',')
	}
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(key); err != nil {
		return "", errcode.Wrap(err, errcode.Internal, "encoding the secret")
	}
	buf.Truncate(buf.Len() - 1)
	buf.WriteByte(':')
	if err := enc.Encode(value); err != nil {
		return "", errcode.Wrap(err, errcode.Internal, "encoding the secret")
	}
	buf.Truncate(buf.Len() - 1)
	buf.WriteByte('}')
	return buf.String(), nil
}

// keyedStream is an endless deterministic byte stream derived from an
// idempotency key. It feeds only username generation, so that a retry
// names the same user.
func keyedStream(key string) io.Reader {
	return &hashStream{seed: sha256.Sum256([]byte("username\x00" + key))}
}

type hashStream struct {
	seed    [32]byte
	counter uint64
	block   []byte
}

func (h *hashStream) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(h.block) == 0 {
			var buf [40]byte
			copy(buf[:], h.seed[:])
			binary.BigEndian.PutUint64(buf[32:], h.counter)
			h.counter++
			sum := sha256.Sum256(buf[:])
			h.block = sum[:]
		}
		c := copy(p[n:], h.block)
		h.block = h.block[c:]
		n += c
	}
	return n, nil
}
