package provision

import (
	"github.com/dbcreds/provisioner/shared/credential"
	"github.com/dbcreds/provisioner/shared/errcode"
)

// Kind is which of the three kinds of secret a request asks for.
type Kind int

const (
	KindDatabase Kind = iota // engine and connection fields: a rotation-ready secret
	KindTemplate             // secretStringTemplate + generateStringKey
	KindSupplied             // secretString or secretBinary from the caller
)

// Kind tells which of the three kinds of secret r asks for, and rejects
// requests that mix them, since the fields of one kind would be ignored by
// another without a word.
func (r Request) Kind() (Kind, error) {
	database := r.databaseField()
	policy := r.policyField()
	switch {
	case r.SecretString != "" && len(r.SecretBinary) > 0:
		return 0, errcode.Invalidf("secretBinary", "cannot be given with secretString: a secret holds one or the other")
	case r.SecretString != "" || len(r.SecretBinary) > 0:
		given := "secretString"
		if r.SecretString == "" {
			given = "secretBinary"
		}
		if database != "" {
			return 0, errcode.Invalidf(database, "cannot be given with %s: the caller's value is stored as it is", given)
		}
		if r.SecretStringTemplate != "" || r.GenerateStringKey != "" {
			return 0, errcode.Invalidf("secretStringTemplate", "cannot be given with %s: the caller's value is stored as it is", given)
		}
		if policy != "" {
			return 0, errcode.Invalidf(policy, "cannot be given with %s: no password is generated", given)
		}
		return KindSupplied, nil
	case r.SecretStringTemplate != "" || r.GenerateStringKey != "":
		if database != "" {
			return 0, errcode.Invalidf(database, "cannot be given with secretStringTemplate: a database secret is shaped from engine and its fields")
		}
		if r.SecretStringTemplate == "" {
			return 0, errcode.Invalidf("secretStringTemplate", "is required with generateStringKey")
		}
		if r.GenerateStringKey == "" {
			return 0, errcode.Invalidf("generateStringKey", "is required with secretStringTemplate")
		}
		return KindTemplate, nil
	case r.Engine != "":
		return KindDatabase, nil
	case database != "":
		return 0, errcode.Invalidf("engine", "is required with %s", database)
	}
	return 0, errcode.Invalidf("engine", "is required: give engine and host for a database secret, secretStringTemplate and generateStringKey for another generated secret, or secretString or secretBinary")
}

// databaseField names the first database field given, or "".
func (r Request) databaseField() string {
	for _, f := range []struct {
		name  string
		given bool
	}{
		{"engine", r.Engine != ""},
		{"host", r.Host != ""},
		{"port", r.Port != nil},
		{"dbname", r.DBName != ""},
		{"username", r.Username != ""},
		{"masterSecretArn", r.MasterSecretARN != ""},
		{"ssl", r.SSL != nil},
		{"dbInstanceIdentifier", r.DBInstanceIdentifier != ""},
		{"dbClusterIdentifier", r.DBClusterIdentifier != ""},
		{"extraFields", r.ExtraFields != nil},
		{"createDatabaseUser", bool(r.CreateDatabaseUser)},
		{"privileges", r.Privileges != ""},
		{"schemas", r.Schemas != nil},
		{"memberOf", r.MemberOf != nil},
	} {
		if f.given {
			return f.name
		}
	}
	return ""
}

// policyField names the first password-policy field given, or "".
func (r Request) policyField() string {
	for _, f := range []struct {
		name  string
		given bool
	}{
		{"passwordLength", r.PasswordLength != nil},
		{"excludeCharacters", r.ExcludeCharacters != ""},
		{"excludeNumbers", bool(r.ExcludeNumbers)},
		{"excludePunctuation", bool(r.ExcludePunctuation)},
		{"excludeUppercase", bool(r.ExcludeUppercase)},
		{"excludeLowercase", bool(r.ExcludeLowercase)},
		{"includeSpace", bool(r.IncludeSpace)},
		{"requireEachIncludedType", r.RequireEachIncludedType != nil},
	} {
		if f.given {
			return f.name
		}
	}
	return ""
}

// passwordPolicy applies GetRandomPassword's defaults to r's policy fields and
// says whether the caller chose the length.
func (r Request) passwordPolicy() (credential.Policy, bool) {
	p := credential.DefaultPolicy()
	if r.PasswordLength != nil {
		p.Length = int(*r.PasswordLength)
	}
	p.ExcludeCharacters = r.ExcludeCharacters
	p.ExcludeNumbers = bool(r.ExcludeNumbers)
	p.ExcludePunctuation = bool(r.ExcludePunctuation)
	p.ExcludeUppercase = bool(r.ExcludeUppercase)
	p.ExcludeLowercase = bool(r.ExcludeLowercase)
	p.IncludeSpace = bool(r.IncludeSpace)
	if r.RequireEachIncludedType != nil {
		p.RequireEachIncludedType = bool(*r.RequireEachIncludedType)
	}
	return p, r.PasswordLength != nil
}
