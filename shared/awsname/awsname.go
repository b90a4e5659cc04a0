// Package awsname checks and parses AWS names the provisioner handles:
// secret names, Region names and secret ARNs. The checks are written out
// rather than regular expressions compiled at start-up, which cost a cold
// start about a millisecond; each says the pattern it implements.
package awsname

import "strings"

// IsSecretNameByte reports whether c may appear in a secret name: ASCII
// letters, digits and /_+=.@-.
func IsSecretNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("/_+=.@-", c) >= 0
}

// IsSecretName reports whether s matches ^[A-Za-z0-9/_+=.@-]+$.
func IsSecretName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !IsSecretNameByte(s[i]) {
			return false
		}
	}
	return true
}

// IsRegion reports whether s matches ^([a-z]+-)+\d+$, like eu-west-1.
func IsRegion(s string) bool {
	parts := strings.Split(s, "-")
	if len(parts) < 2 || !isDigits(parts[len(parts)-1]) {
		return false
	}
	for _, p := range parts[:len(parts)-1] {
		if !isLower(p) {
			return false
		}
	}
	return true
}

// SecretARN is a parsed arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME.
type SecretARN struct {
	Partition, Region, Account string
	// Resource is everything after "secret:": the name, and for a full ARN
	// a hyphen and six characters.
	Resource string
}

// Name is the secret name of a full ARN (the resource less "-" and its six
// random characters), or "" when the resource has no such suffix.
func (a SecretARN) Name() string {
	r := a.Resource
	if len(r) < 8 || r[len(r)-7] != '-' || !isAlnum(r[len(r)-6:]) {
		return ""
	}
	return r[:len(r)-7]
}

// ParseSecretARN parses s when it matches
// ^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$.
func ParseSecretARN(s string) (SecretARN, bool) {
	parts := strings.SplitN(s, ":", 7)
	if len(parts) != 7 || parts[0] != "arn" || parts[2] != "secretsmanager" || parts[5] != "secret" {
		return SecretARN{}, false
	}
	a := SecretARN{Partition: parts[1], Region: parts[3], Account: parts[4], Resource: parts[6]}
	if !strings.HasPrefix(a.Partition, "aws") || !isLowerOrHyphen(a.Partition[3:]) ||
		a.Region == "" || !isLowerDigitHyphen(a.Region) ||
		len(a.Account) != 12 || !isDigits(a.Account) || !IsSecretName(a.Resource) {
		return SecretARN{}, false
	}
	return a, true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isLower(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return true
}

func isLowerOrHyphen(s string) bool {
	for i := 0; i < len(s); i++ {
		if (s[i] < 'a' || s[i] > 'z') && s[i] != '-' {
			return false
		}
	}
	return true
}

func isLowerDigitHyphen(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}
