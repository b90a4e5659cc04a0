// Package secretreaders decides who may read a secret: the IAM principals
// a request names as its readers, held to the accounts the deployment
// allows (ReaderAccounts), and the resource policy that lets exactly them
// read it. It is pure: it imports nothing of the provisioner's but errcode.
//
// Access (access.go) puts that policy on a secret and gives each reader a
// KMS grant to decrypt it, when the secret has a customer managed key.
package secretreaders

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/dbcreds/provisioner/shared/errcode"
)

// MaxReaders bounds a request's readers: a resource policy is at most
// 20,480 characters, and each reader costs one ARN in it.
const MaxReaders = 50

// Actions are what a reader may do: read, never write.
var Actions = []string{"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}

// parsePrincipal reads an IAM role or user ARN (with a path), or an
// account's root, in any partition: arn:<partition>:iam::<account>:root
// or arn:<partition>:iam::<account>:role/<path/name> (or user/), the path
// and name printable ASCII, not empty. name is "" for a root. Written out,
// not a regular expression: compiling those at init cost every cold start
// (principal_test.go holds the expressions it matches exactly).
func parsePrincipal(r string) (account, name string, ok bool) {
	rest, found := strings.CutPrefix(r, "arn:")
	if !found {
		return "", "", false
	}
	partition, rest, found := strings.Cut(rest, ":")
	if !found || partition != "aws" && partition != "aws-cn" && partition != "aws-us-gov" {
		return "", "", false
	}
	if rest, found = strings.CutPrefix(rest, "iam::"); !found || len(rest) < 13 || !isAccountID(rest[:12]) || rest[12] != ':' {
		return "", "", false
	}
	account, rest = rest[:12], rest[13:]
	if rest == "root" {
		return account, "", true
	}
	kind, name, found := strings.Cut(rest, "/")
	if !found || kind != "role" && kind != "user" || name == "" {
		return "", "", false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x21 || name[i] > 0x7e {
			return "", "", false
		}
	}
	return account, name, true
}

// isAccountID reports whether s is 12 digits.
func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isRoleName reports whether s is what IAM allows in a role or user name
// and path: segments of letters, digits and _+=,.@- between slashes, none
// empty (at most 512 characters of path and 64 of name, checked apart).
func isRoleName(s string) bool {
	for _, part := range strings.Split(s, "/") {
		if part == "" {
			return false
		}
		for i := 0; i < len(part); i++ {
			c := part[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_+=,.@-", c) >= 0) {
				return false
			}
		}
	}
	return true
}

// Accounts are the accounts readers may live in: the deployment's
// ReaderAccounts, and this account always.
type Accounts struct {
	this    string
	allowed []string
}

// ParseAccounts reads ReaderAccounts (comma-separated account ids; empty:
// this account only).
func ParseAccounts(this, text string) (Accounts, error) {
	a := Accounts{this: this}
	for _, id := range strings.Split(text, ",") {
		if id = strings.TrimSpace(id); id == "" {
			continue
		}
		if !isAccountID(id) {
			return Accounts{}, errcode.New(errcode.Internal, "ReaderAccounts: %s is no 12-digit account id", errcode.Quote(id))
		}
		a.allowed = append(a.allowed, id)
	}
	return a, nil
}

// This is the deployment's own account.
func (a Accounts) This() string { return a.this }

func (a Accounts) allows(account string) bool {
	return account == a.this || slices.Contains(a.allowed, account)
}

// Check validates a request's readers: each a well-formed IAM role or
// user ARN (or an account root) in an account the deployment allows;
// never *, a service principal or anything else; no duplicates.
// Returns whether any reader lives in another account.
func (a Accounts) Check(readers []string) (crossAccount bool, err error) {
	if len(readers) > MaxReaders {
		return false, errcode.Invalidf("readers", "may name at most %d principals, got %d", MaxReaders, len(readers))
	}
	seen := map[string]bool{}
	for i, r := range readers {
		field := "readers[" + itoa(i) + "]"
		account, name, ok := parsePrincipal(r)
		switch {
		case r == "*" || strings.Contains(r, "*") || strings.Contains(r, "?"):
			return false, errcode.Invalidf(field, "must name one principal, not a pattern")
		case strings.HasSuffix(r, ".amazonaws.com") || !strings.HasPrefix(r, "arn:"):
			return false, errcode.Invalidf(field, "must be an IAM role or user ARN (arn:aws:iam::<account>:role/<name>), not a service principal or an account id")
		case !ok:
			return false, errcode.Invalidf(field, "must be an IAM role or user ARN (arn:aws:iam::<account>:role/<name>) or an account root")
		case name != "" && (!isRoleName(name) || len(name) > 512+64 || len(name[strings.LastIndex(name, "/")+1:]) > 64):
			return false, errcode.Invalidf(field, "has a role or user name IAM would not accept")
		case !a.allows(account):
			return false, errcode.Invalidf(field, "names account %s, where this deployment does not let readers live (its ReaderAccounts)", account)
		case seen[r]:
			return false, errcode.Invalidf(field, "is given twice")
		}
		seen[r] = true
		crossAccount = crossAccount || account != a.this
	}
	return crossAccount, nil
}

// Sid marks the statement of the policy Policy writes: a secret whose
// policy is anything else carries one someone attached by hand.
const Sid = "DbcredsProvisionerReaders"

// Policy is the resource policy that lets exactly readers read the
// secret: one statement, the two read actions, no condition, no
// wildcard principal. Resource "*" is the secret the policy is on.
func Policy(readers []string) (string, error) {
	if len(readers) == 0 {
		return "", errcode.New(errcode.Internal, "a readers policy needs readers")
	}
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Sid":       Sid,
			"Effect":    "Allow",
			"Principal": map[string]any{"AWS": readers},
			"Action":    Actions,
			"Resource":  "*",
		}},
	}
	out, err := json.Marshal(doc)
	if err == nil && len(out) > MaxPolicyLength {
		return "", errcode.Invalidf("readers", "make a resource policy of %d characters, over Secrets Manager's %d: name fewer principals", len(out), MaxPolicyLength)
	}
	return string(out), err
}

// MaxPolicyLength is Secrets Manager's limit on a resource policy.
const MaxPolicyLength = 20480

// Ours reads a resource policy: when it is exactly one Policy wrote (the
// one statement, the read actions, principals only, nothing else), ours is
// true and readers are its principals, as Secrets Manager keeps them (a
// deleted role shows as its unique id). Any other policy, or none, is not
// ours.
func Ours(policy string) (readers []string, ours bool) {
	var doc struct {
		Version   string
		Statement json.RawMessage
	}
	if json.Unmarshal([]byte(policy), &doc) != nil || doc.Version != "2012-10-17" {
		return nil, false
	}
	var statements []map[string]json.RawMessage
	if json.Unmarshal(doc.Statement, &statements) != nil {
		var one map[string]json.RawMessage
		if json.Unmarshal(doc.Statement, &one) != nil {
			return nil, false
		}
		statements = []map[string]json.RawMessage{one}
	}
	if len(statements) != 1 || len(statements[0]) != 5 {
		return nil, false
	}
	st := statements[0]
	var sid, effect, resource string
	var principal map[string]json.RawMessage
	json.Unmarshal(st["Sid"], &sid)
	json.Unmarshal(st["Effect"], &effect)
	json.Unmarshal(st["Resource"], &resource)
	json.Unmarshal(st["Principal"], &principal)
	actions, ok := stringOrList(st["Action"])
	if sid != Sid || effect != "Allow" || resource != "*" || !ok || len(principal) != 1 {
		return nil, false
	}
	slices.Sort(actions)
	if want := slices.Sorted(slices.Values(Actions)); !slices.Equal(actions, want) {
		return nil, false
	}
	readers, ok = stringOrList(principal["AWS"])
	if !ok || len(readers) == 0 || slices.Contains(readers, "*") {
		return nil, false
	}
	return readers, true
}

// stringOrList reads an IAM policy value that may be one string or a list.
func stringOrList(raw json.RawMessage) ([]string, bool) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, true
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return list, true
	}
	return nil, false
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
