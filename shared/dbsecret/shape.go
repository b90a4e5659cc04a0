package dbsecret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/dbcreds/provisioner/shared/awsname"
	"github.com/dbcreds/provisioner/shared/dbuser"
	"github.com/dbcreds/provisioner/shared/errcode"
)

// Fields are the connection details of a database secret. Port 0 means the
// engine's default; an empty DBName takes the engine's default, if any.
type Fields struct {
	Host                 string
	Port                 int
	DBName               string
	Username             string
	MasterARN            string
	SSL                  *bool
	DBInstanceIdentifier string
	DBClusterIdentifier  string
	// Extra keys merged into the secret, e.g. a readerHost. Values are JSON.
	Extra map[string]json.RawMessage
}

// reservedKeys are the keys rotation functions and the console read; Extra may
// not set them in any letter case, since a second "Password" would go stale
// at the first rotation.
var reservedKeys = []string{"engine", "host", "username", "password", "dbname", "port", "masterarn", "ssl", "dbInstanceIdentifier", "dbClusterIdentifier"}

// isUsername matches ^[A-Za-z][A-Za-z0-9_]*$: safe unquoted in every engine.
func isUsername(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (i == 0 || c != '_' && (c < '0' || c > '9')) {
			return false
		}
	}
	return s != ""
}

// isIdentifier matches RDS identifiers, ^[A-Za-z](?:[A-Za-z0-9]|-[A-Za-z0-9])*$:
// a letter first, no two hyphens in a row, none at the end.
func isIdentifier(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		switch {
		case i == 0 && !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'):
			return false
		case c == '-' && (i+1 == len(s) || s[i+1] == '-'):
			return false
		case c != '-' && !alnum:
			return false
		}
	}
	return s != ""
}

// Validate checks f against what the engine's rotation function needs. An
// empty Username is allowed: the caller generates one.
func (e Engine) Validate(f Fields) error {
	if f.Host == "" {
		return errcode.Invalidf("host", "is required for every engine: rotation connects to it")
	}
	if err := checkText("host", f.Host, 255); err != nil {
		return err
	}
	if f.Port != 0 && (f.Port < 1 || f.Port > 65535) {
		return errcode.Invalidf("port", "must be between 1 and 65535, got %d", f.Port)
	}
	if f.DBName == "" && e.RequiresDBName {
		return errcode.Invalidf("dbname", "is required for %s", e.Name)
	}
	if err := checkText("dbname", f.DBName, 255); err != nil {
		return err
	}
	if f.Username != "" {
		if !isUsername(f.Username) {
			return errcode.Invalidf("username", "must start with a letter and hold only ASCII letters, digits and underscores")
		}
		if max := e.MaxUsername(); len(f.Username) > max {
			return errcode.Invalidf("username", "must be at most %d characters for %s, so that alternating-users rotation can append %q within the engine's limit of %d; got %d",
				max, e.Name, dbuser.CloneSuffix, e.UsernameCap, len(f.Username))
		}
	}
	if f.MasterARN == "" && e.RequiresMaster {
		return errcode.Invalidf("masterSecretArn", "is required for %s: its users cannot change their own passwords, so rotation needs the admin secret", e.Name)
	}
	// Any secret AWS issues will do, RDS's own rds!cluster-... master
	// secrets included.
	if _, ok := awsname.ParseAnySecretARN(f.MasterARN); f.MasterARN != "" && !ok {
		return errcode.Invalidf("masterSecretArn", "must be a Secrets Manager secret ARN (arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME)")
	}
	for _, id := range []struct{ field, value string }{
		{"dbInstanceIdentifier", f.DBInstanceIdentifier},
		{"dbClusterIdentifier", f.DBClusterIdentifier},
	} {
		if id.value != "" && (len(id.value) > 63 || !isIdentifier(id.value)) {
			return errcode.Invalidf(id.field, "must be 1-63 letters, digits or hyphens, start with a letter, and have no two hyphens in a row nor end with one")
		}
	}
	for key := range f.Extra {
		for _, r := range reservedKeys {
			if strings.EqualFold(key, r) {
				return errcode.Invalidf("extraFields", "key %s is reserved for the database secret itself", errcode.Quote(key))
			}
		}
		if key == "" {
			return errcode.Invalidf("extraFields", "keys must not be empty")
		}
	}
	return nil
}

// checkText rejects values too long or holding control characters or white
// space at either end, which never belong in a connection detail.
func checkText(field, v string, max int) error {
	if n := len([]rune(v)); n > max {
		return errcode.Invalidf(field, "must be at most %d characters, got %d", max, n)
	}
	if strings.TrimSpace(v) != v {
		return errcode.Invalidf(field, "must not start or end with white space")
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return errcode.Invalidf(field, "must not hold control characters")
		}
	}
	return nil
}

// Shape returns the secret JSON for the engine: the keys rotation functions
// read, in the documented order, then the extra keys sorted. port is a
// number, as the templates parse it with int() or str(). f must have passed
// Validate and carry a username.
func (e Engine) Shape(f Fields, password string) ([]byte, error) {
	if f.Username == "" {
		return nil, errcode.New(errcode.Internal, "shaping a %s secret without a username", e.Name)
	}
	port := f.Port
	if port == 0 {
		port = e.DefaultPort
	}
	dbname := f.DBName
	if dbname == "" {
		dbname = e.DefaultDBName
	}
	var w objectWriter
	w.add("engine", e.Name)
	w.add("host", f.Host)
	w.add("username", f.Username)
	w.add("password", password)
	if dbname != "" {
		w.add("dbname", dbname)
	}
	w.add("port", port)
	if f.MasterARN != "" {
		w.add("masterarn", f.MasterARN)
	}
	if f.SSL != nil {
		w.add("ssl", *f.SSL)
	}
	if f.DBInstanceIdentifier != "" {
		w.add("dbInstanceIdentifier", f.DBInstanceIdentifier)
	}
	if f.DBClusterIdentifier != "" {
		w.add("dbClusterIdentifier", f.DBClusterIdentifier)
	}
	keys := make([]string, 0, len(f.Extra))
	for k := range f.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		w.add(k, f.Extra[k])
	}
	return w.close()
}

// objectWriter writes a JSON object with keys in the order added. HTML
// escaping is off so that punctuation in passwords stays readable.
type objectWriter struct {
	buf bytes.Buffer
	enc *json.Encoder
	err error
}

func (w *objectWriter) add(key string, value any) {
	if w.err != nil {
		return
	}
	if w.buf.Len() == 0 {
		w.buf.WriteByte('{')
	} else {
		w.buf.WriteByte(',')
	}
	w.encode(key)
	w.buf.WriteByte(':')
	w.encode(value)
}

func (w *objectWriter) encode(v any) {
	if w.enc == nil {
		w.enc = json.NewEncoder(&w.buf)
		w.enc.SetEscapeHTML(false)
	}
	if err := w.enc.Encode(v); err != nil {
		w.err = fmt.Errorf("encoding secret JSON: %w", err)
		return
	}
	w.buf.Truncate(w.buf.Len() - 1) // Encode appends a newline
}

func (w *objectWriter) close() ([]byte, error) {
	if w.err != nil {
		return nil, &errcode.Error{Code: errcode.Invalid, Field: "extraFields", Message: "values must be valid JSON", Err: w.err}
	}
	if w.buf.Len() == 0 {
		w.buf.WriteByte('{')
	}
	w.buf.WriteByte('}')
	return w.buf.Bytes(), nil
}
