package awsname

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// The regular expressions each check replaces, kept here to prove the
// written-out checks mean exactly the same.
var (
	secretName = regexp.MustCompile(`^[A-Za-z0-9/_+=.@-]+$`)
	region     = regexp.MustCompile(`^([a-z]+-)+\d+$`)
	secretARN  = regexp.MustCompile(`^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$`)
	fullARN    = regexp.MustCompile(`^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:([A-Za-z0-9/_+=.@-]+)-[A-Za-z0-9]{6}$`)
)

// mutate makes strings near the valid ones, where mistakes would show.
func mutate(r *rand.Rand, s string) string {
	alphabet := "aZ09/_+=.@-: \x00é-arn"
	b := []byte(s)
	for n := r.IntN(3); n >= 0 && len(b) > 0; n-- {
		switch i := r.IntN(len(b)); r.IntN(3) {
		case 0:
			b[i] = alphabet[r.IntN(len(alphabet))]
		case 1:
			b = append(b[:i], b[i+1:]...)
		default:
			b = append(b[:i], append([]byte{alphabet[r.IntN(len(alphabet))]}, b[i:]...)...)
		}
	}
	return string(b)
}

func TestSameAsTheRegularExpressions(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	seeds := []string{
		"app/orders/db", "eu-west-1", "us-gov-west-1", "cn-north-1", "a-1", "-1", "eu--west-1", "eu-west-", "EU-WEST-1",
		"arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-AbCdEf",
		"arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:app/db",
		"arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:x-123456",
		"arn:aws:secretsmanager:us-east-1:12345678901:secret:x", "", "-", "x-AbCdE", "arn:aws:secretsmanager:us-east-1:123456789012:secret:-AbCdEf",
	}
	for _, seed := range seeds {
		for i := 0; i < 3000; i++ {
			s := seed
			if i > 0 {
				s = mutate(r, seed)
			}
			if got, want := IsSecretName(s), secretName.MatchString(s); got != want {
				t.Fatalf("IsSecretName(%q) = %v, the expression says %v", s, got, want)
			}
			if got, want := IsRegion(s), region.MatchString(s); got != want {
				t.Fatalf("IsRegion(%q) = %v, the expression says %v", s, got, want)
			}
			a, ok := ParseSecretARN(s)
			if want := secretARN.MatchString(s); ok != want {
				t.Fatalf("ParseSecretARN(%q) ok = %v, the expression says %v", s, ok, want)
			}
			name := ""
			if ok {
				name = a.Name()
			}
			wantName := ""
			if m := fullARN.FindStringSubmatch(s); m != nil {
				wantName = m[1]
			}
			if name != wantName {
				t.Fatalf("ParseSecretARN(%q).Name() = %q, the expression says %q", s, name, wantName)
			}
		}
	}
	if a, _ := ParseSecretARN("arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/x-AbCdEf"); a.Region != "eu-west-1" || a.Account != "123456789012" || a.Name() != "app/x" || !strings.HasPrefix(a.Partition, "aws") {
		t.Fatalf("parsed %+v", a)
	}
}
