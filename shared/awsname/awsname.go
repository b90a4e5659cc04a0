// Package awsname checks and parses AWS names the provisioner handles:
// secret names, Region names and secret ARNs. The checks are written out
// rather than regular expressions compiled at start-up, which cost a cold
// start about a millisecond; each says the pattern it implements.
//
// It is pure and imports nothing of the provisioner's.
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

// isManagedSecretNameByte reports whether c may appear in the name of a
// secret that AWS itself creates: the caller's characters and "!", which
// services use to mark their own secrets (rds!cluster-<uuid>, rds!db-<uuid>,
// events!connection/...). CreateSecret refuses "!" from callers.
func isManagedSecretNameByte(c byte) bool {
	return c == '!' || IsSecretNameByte(c)
}

// IsAccountID reports whether s is an account id: twelve digits.
func IsAccountID(s string) bool { return len(s) == 12 && isDigits(s) }

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
// ^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$:
// the ARN of a secret a caller could have created.
func ParseSecretARN(s string) (SecretARN, bool) {
	return parseSecretARN(s, IsSecretNameByte)
}

// ParseAnySecretARN parses any secret ARN that AWS issues, in every
// partition, including the secrets services create for themselves
// (arn:aws:secretsmanager:REGION:ACCOUNT:secret:rds!cluster-<uuid>-AbCdEf,
// which RDS and Aurora make for ManageMasterUserPassword): it matches
// ^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@!-]+$.
func ParseAnySecretARN(s string) (SecretARN, bool) {
	return parseSecretARN(s, isManagedSecretNameByte)
}

func parseSecretARN(s string, nameByte func(byte) bool) (SecretARN, bool) {
	a, ok := parseARN(s, "secretsmanager")
	if !ok || !strings.HasPrefix(a.Resource, "secret:") {
		return SecretARN{}, false
	}
	a.Resource = a.Resource[len("secret:"):]
	if a.Resource == "" || len(a.Resource) > 2048 {
		return SecretARN{}, false
	}
	for i := 0; i < len(a.Resource); i++ {
		if !nameByte(a.Resource[i]) {
			return SecretARN{}, false
		}
	}
	return a, true
}

// parseARN splits arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE for service,
// checking the partition (aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, ...),
// a non-empty Region of lower-case letters, digits and hyphens, and a
// twelve-digit account.
func parseARN(s, service string) (SecretARN, bool) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != service {
		return SecretARN{}, false
	}
	a := SecretARN{Partition: parts[1], Region: parts[3], Account: parts[4], Resource: parts[5]}
	if !strings.HasPrefix(a.Partition, "aws") || !isLowerOrHyphen(a.Partition[3:]) ||
		a.Region == "" || !isLowerDigitHyphen(a.Region) ||
		!IsAccountID(a.Account) {
		return SecretARN{}, false
	}
	return a, true
}

// IsKMSKeyID reports whether s names a KMS key in one of the forms
// Secrets Manager's KmsKeyId takes: a key id (a UUID, or mrk- and 32 hex
// digits for a multi-Region key), a key ARN, an alias name (alias/NAME) or
// an alias ARN. Alias names are 1-256 characters of A-Z a-z 0-9 / _ -
// after "alias/".
func IsKMSKeyID(s string) bool {
	if strings.HasPrefix(s, "arn:") {
		a, ok := parseARN(s, "kms")
		if !ok {
			return false
		}
		s = a.Resource
		if strings.HasPrefix(s, "key/") {
			return isKeyID(s[len("key/"):])
		}
		return isAlias(s)
	}
	return isKeyID(s) || isAlias(s)
}

// isKeyID matches a UUID (8-4-4-4-12 hex digits) or mrk- and 32 hex digits.
func isKeyID(s string) bool {
	if rest, ok := strings.CutPrefix(s, "mrk-"); ok {
		return len(rest) == 32 && isHex(rest, true)
	}
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if s[i] != '-' {
				return false
			}
		} else if !isHex(s[i:i+1], true) {
			return false
		}
	}
	return true
}

// isAlias matches ^alias/[A-Za-z0-9/_-]{1,250}$ (256 characters in all).
func isAlias(s string) bool {
	name, ok := strings.CutPrefix(s, "alias/")
	if !ok || name == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '/' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// isHex reports whether s is lower-case hexadecimal (or either case when
// upper is set; key ids are shown in lower case, and KMS accepts both).
func isHex(s string, upper bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || upper && 'A' <= c && c <= 'F') {
			return false
		}
	}
	return s != ""
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

// FunctionARN is a parsed Lambda function ARN.
type FunctionARN struct {
	Partition, Region, Account string
	Name, Qualifier            string // Qualifier is a version, an alias or $LATEST, or ""
}

// ParseFunctionARN parses s when it matches
// ^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}(:(\$LATEST|[A-Za-z0-9_-]{1,128}))?$,
// the form of Lambda's FunctionArn.
func ParseFunctionARN(s string) (FunctionARN, bool) {
	a, ok := parseARN(s, "lambda")
	if !ok || !strings.HasPrefix(a.Resource, "function:") {
		return FunctionARN{}, false
	}
	name, qualifier, qualified := strings.Cut(a.Resource[len("function:"):], ":")
	if !isFunctionName(name, 64) || qualified && qualifier != "$LATEST" && !isFunctionName(qualifier, 128) {
		return FunctionARN{}, false
	}
	return FunctionARN{Partition: a.Partition, Region: a.Region, Account: a.Account, Name: name, Qualifier: qualifier}, true
}

func isFunctionName(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(s[i:i+1]) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// SecretARNPrefix is the start of the ARNs of the secrets whose names
// start with namePrefix, in region and account: arn:<partition>:
// secretsmanager:<region>:<account>:secret:<namePrefix>.
func SecretARNPrefix(region, account, namePrefix string) string {
	return "arn:" + Partition(region) + ":secretsmanager:" + region + ":" + account + ":secret:" + namePrefix
}

// Partition is the partition region is in: aws, aws-cn or aws-us-gov
// (the ISO partitions are not told apart, and fail closed where used).
func Partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// DNSSuffix is the domain of the endpoints of a Region's partition, as
// the SDK's partitions table gives it, the ISO partitions included.
func DNSSuffix(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "amazonaws.com.cn"
	case strings.HasPrefix(region, "us-isob-"):
		return "sc2s.sgov.gov"
	case strings.HasPrefix(region, "us-isof-"):
		return "csp.hci.ic.gov"
	case strings.HasPrefix(region, "us-iso-"):
		return "c2s.ic.gov"
	case strings.HasPrefix(region, "eu-isoe-"):
		return "cloud.adc-e.uk"
	case strings.HasPrefix(region, "eusc-"):
		return "amazonaws.eu"
	}
	return "amazonaws.com"
}
