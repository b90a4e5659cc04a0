package secretreaders

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// The expressions the written-out checks replace, kept to hold them to.
var (
	principalRE = regexp.MustCompile(`^arn:(aws|aws-cn|aws-us-gov):iam::([0-9]{12}):(root|(role|user)/([\x21-\x7e]+))$`)
	accountRE   = regexp.MustCompile(`^[0-9]{12}$`)
	roleNameRE  = regexp.MustCompile(`^([\w+=,.@-]+/)*[\w+=,.@-]+$`)
)

// TestChecksMatchTheExpressions: parsePrincipal, isAccountID and
// isRoleName accept exactly what the expressions do, on edge cases and on
// strings made at random from the pieces that matter.
func TestChecksMatchTheExpressions(t *testing.T) {
	cases := []string{
		"", "arn:", "arn:aws:iam::123456789012:root", "arn:aws:iam::123456789012:root ", "arn:aws:iam::123456789012:rootx",
		"arn:aws:iam::123456789012:role/app", "arn:aws:iam::123456789012:role/", "arn:aws:iam::123456789012:role//x",
		"arn:aws:iam::123456789012:user/a/b/c", "arn:aws-cn:iam::123456789012:role/x", "arn:aws-us-gov:iam::123456789012:user/x",
		"arn:aws-iso:iam::123456789012:role/x", "arn:aws:iam::12345678901:role/x", "arn:aws:iam::1234567890123:role/x",
		"arn:aws:iam::123456789012:group/x", "arn:aws:iam:us-east-1:123456789012:role/x", "arn:aws:sts::123456789012:role/x",
		"arn:aws:iam::123456789012:role/a b", "arn:aws:iam::123456789012:role/a\n", "arn:aws:iam::123456789012:role/é",
		"arn:aws:iam::123456789012:role/~!", "arn:aws:iam::123456789012:role/x\x7f", "arn:aws:iam::123456789012:role/x/",
		"arn:aws:iam::12345678901a:role/x", "xarn:aws:iam::123456789012:role/x", "arn:aws:iam::123456789012:",
		"123456789012", "12345678901", "1234567890123", "12345678901x", "a/b", "/a", "a/", "a//b", "a+b=c,d.e@f-g_h", "a b", "a*",
	}
	pieces := []string{"arn:", "aws", "aws-cn", "aws-us-gov", ":", "iam", "::", "123456789012", "12345", "root", "role", "user",
		"/", "a", "Z9", "_+=,.@-", " ", "*", "~", "\n", "\x00", "é", "x"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var b strings.Builder
		if r.IntN(2) == 0 {
			b.WriteString("arn:aws:iam::123456789012:")
		}
		for range r.IntN(6) {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		cases = append(cases, b.String())
	}
	for _, c := range cases {
		m := principalRE.FindStringSubmatch(c)
		account, name, ok := parsePrincipal(c)
		if ok != (m != nil) || ok && (account != m[2] || name != m[5]) {
			t.Fatalf("parsePrincipal(%q) = %q, %q, %v; the expression: %q", c, account, name, ok, m)
		}
		if isAccountID(c) != accountRE.MatchString(c) {
			t.Fatalf("isAccountID(%q) = %v", c, isAccountID(c))
		}
		if isRoleName(c) != roleNameRE.MatchString(c) {
			t.Fatalf("isRoleName(%q) = %v", c, isRoleName(c))
		}
	}
}
