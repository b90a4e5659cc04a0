// Package dbsecret knows the database engines that Secrets Manager's rotation
// functions support and shapes the secret JSON those functions read
// ("JSON structure of Secrets Manager database secrets").
//
// It shapes; it never connects or stores. It imports only errcode,
// awsname, credential and dbuser (for the clone's name), nothing that
// stores, connects or triggers.
package dbsecret

import (
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/dbcreds/provisioner/shared/credential"
	"github.com/dbcreds/provisioner/shared/dbuser"
	"github.com/dbcreds/provisioner/shared/errcode"
)

// Engine is what a rotation function template needs and generates for one
// engine value.
type Engine struct {
	Name        string
	DefaultPort int
	// DefaultDBName is what the rotation template connects to when dbname is
	// missing; writing it makes the secret say what rotation will do.
	DefaultDBName string
	// ExtraExcluded are characters the rotation template also excludes.
	ExtraExcluded string
	// MaxPassword caps the password length (0: GetRandomPassword's own cap).
	MaxPassword int
	// UsernameCap is the engine's limit for the alternating-users clone
	// name, the username with dbuser.CloneSuffix.
	UsernameCap             int
	RequiresDBName          bool
	RequiresMaster          bool
	RequiresUpperLowerDigit bool
}

// AlwaysExcluded are the characters every rotation template excludes, because
// they break connection strings or SQL quoting.
const AlwaysExcluded = `/@"'\`

var engines = map[string]Engine{
	"mysql":             {Name: "mysql", DefaultPort: 3306, UsernameCap: 16},
	"aurora-mysql":      {Name: "aurora-mysql", DefaultPort: 3306, UsernameCap: 16},
	"mariadb":           {Name: "mariadb", DefaultPort: 3306, UsernameCap: 80},
	"postgres":          {Name: "postgres", DefaultPort: 5432, DefaultDBName: "postgres", ExtraExcluded: ":", UsernameCap: 63},
	"aurora-postgresql": {Name: "aurora-postgresql", DefaultPort: 5432, DefaultDBName: "postgres", ExtraExcluded: ":", UsernameCap: 63},
	"oracle":            {Name: "oracle", DefaultPort: 1521, MaxPassword: 30, UsernameCap: 30, RequiresDBName: true},
	"sqlserver":         {Name: "sqlserver", DefaultPort: 1433, DefaultDBName: "master", UsernameCap: 128},
	"db2":               {Name: "db2", DefaultPort: 50000, ExtraExcluded: ";", UsernameCap: 16, RequiresMaster: true},
	// Redshift and DocumentDB templates set no clone cap; their own username
	// limits (128 and 63) less the suffix keep a clone name valid all the same.
	"redshift": {Name: "redshift", DefaultPort: 5439, DefaultDBName: "dev", ExtraExcluded: ":", UsernameCap: 128, RequiresUpperLowerDigit: true},
	"mongo":    {Name: "mongo", DefaultPort: 27017, UsernameCap: 63},
}

// Names lists the supported engine values, sorted.
func Names() []string {
	names := make([]string, 0, len(engines))
	for n := range engines {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Lookup returns the engine for a value, matched case-insensitively because
// the rotation templates compare the canonical lower-case name.
func Lookup(name string) (Engine, error) {
	e, ok := engines[strings.ToLower(name)]
	if !ok {
		return Engine{}, errcode.Invalidf("engine", "unknown engine %s; known engines: %s", errcode.Quote(name), strings.Join(Names(), ", "))
	}
	return e, nil
}

// MaxUsername is the longest username whose alternating-users clone still
// fits the engine's cap.
func (e Engine) MaxUsername() int { return e.UsernameCap - len(dbuser.CloneSuffix) }

// PasswordPolicy merges the engine's needs into a caller's policy: the
// template's excluded characters are added, and an unset length takes the
// engine's cap. lengthSet says whether the caller chose the length.
func (e Engine) PasswordPolicy(p credential.Policy, lengthSet bool) (credential.Policy, error) {
	// The limit is on what the caller wrote, not on what the engine adds.
	if n := utf8.RuneCountInString(p.ExcludeCharacters); n > credential.MaxExcludeChars {
		return p, errcode.Invalidf("excludeCharacters", "must be at most %d characters, got %d", credential.MaxExcludeChars, n)
	}
	p.ExcludeCharacters = mergeChars(p.ExcludeCharacters, AlwaysExcluded+e.ExtraExcluded)
	if p.IncludeSpace && !p.Includes(credential.Uppercase) && !p.Includes(credential.Lowercase) &&
		!p.Includes(credential.Digits) && !p.Includes(credential.Punctuation) {
		return p, errcode.Invalidf("includeSpace", "a database password cannot be made of spaces only: the policy excludes every other character")
	}
	if e.MaxPassword > 0 {
		if !lengthSet && p.Length > e.MaxPassword {
			p.Length = e.MaxPassword
		}
		if p.Length > e.MaxPassword {
			return p, errcode.Invalidf("passwordLength", "%s passwords are at most %d characters, got %d", e.Name, e.MaxPassword, p.Length)
		}
	}
	if e.RequiresUpperLowerDigit {
		if !p.RequireEachIncludedType {
			return p, errcode.Invalidf("requireEachIncludedType", "%s passwords need an uppercase letter, a lowercase letter and a digit, so it cannot be false", e.Name)
		}
		for _, c := range []struct{ field, class string }{
			{"excludeUppercase", credential.Uppercase},
			{"excludeLowercase", credential.Lowercase},
			{"excludeNumbers", credential.Digits},
		} {
			if !p.Includes(c.class) {
				return p, errcode.Invalidf(c.field, "%s passwords need an uppercase letter, a lowercase letter and a digit; the policy excludes every character of one of them", e.Name)
			}
		}
	}
	return p, p.Check()
}

// mergeChars returns a with every character of b it lacks appended. Should
// that pass GetRandomPassword's limit, only the distinct ASCII characters
// are kept: passwords are drawn from ASCII, so the rest excludes nothing.
func mergeChars(a, b string) string {
	for _, r := range b {
		if !strings.ContainsRune(a, r) {
			a += string(r)
		}
	}
	if utf8.RuneCountInString(a) > credential.MaxExcludeChars {
		var seen [utf8.RuneSelf]bool
		var kept []byte
		for _, r := range a {
			if r < utf8.RuneSelf && !seen[r] {
				seen[r] = true
				kept = append(kept, byte(r))
			}
		}
		a = string(kept)
	}
	return a
}
