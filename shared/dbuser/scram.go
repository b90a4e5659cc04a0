package dbuser

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
)

// Password is a new user's password, ready for its family: PostgreSQL's
// SCRAM verifier (a millisecond of key stretching) is computed once, in the
// background from the moment the password is known, so that it overlaps the
// calls that come before the user is made.
type Password struct {
	plain    string
	done     chan struct{} // closed once verifier and err are set
	verifier string
	err      error
}

// NewPassword readies password for a user of family f.
func NewPassword(f Family, password string) *Password {
	p := &Password{plain: password, done: make(chan struct{})}
	if f != Postgres {
		close(p.done) // MySQL takes the password itself
		return p
	}
	go func() {
		defer close(p.done)
		p.verifier, p.err = scramVerifier(password)
	}()
	return p
}

// scram waits for the verifier.
func (p *Password) scram() (string, error) {
	<-p.done
	return p.verifier, p.err
}

// scramIterations is PostgreSQL's default (scram_iterations).
const scramIterations = 4096

// scramVerifier is the SCRAM-SHA-256 verifier PostgreSQL stores for a
// password (RFC 5802, RFC 7677), as psql's \password computes it on the
// client: SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>. Given
// in CREATE ROLE ... PASSWORD, it lets the user log in with the password
// while the password itself is never sent. Passwords here are printable
// ASCII, which SASLprep leaves as they are.
func scramVerifier(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	return scramVerifierWith(password, salt, scramIterations)
}

func scramVerifierWith(password string, salt []byte, iterations int) (string, error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return "", err
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	serverKey := mac(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return "SCRAM-SHA-256$" + strconv.Itoa(iterations) + ":" + b64(salt) + "$" + b64(storedKey[:]) + ":" + b64(serverKey), nil
}

// unusableVerifier is a well-formed SCRAM-SHA-256 verifier of no password
// anyone knows: random keys, whose preimages nobody has. The clone made
// with the user gets it, so that it cannot log in until a rotation sets
// its password; it costs no key stretching.
func unusableVerifier() (string, error) {
	b := make([]byte, 16+32+32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	b64 := base64.StdEncoding.EncodeToString
	return "SCRAM-SHA-256$" + strconv.Itoa(scramIterations) + ":" + b64(b[:16]) + "$" + b64(b[16:48]) + ":" + b64(b[48:]), nil
}
