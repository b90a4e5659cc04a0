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

func TestParseAnySecretARN(t *testing.T) {
	for _, tc := range []struct {
		arn       string
		any, ours bool
	}{
		// What RDS and Aurora make for ManageMasterUserPassword, in every partition.
		{"arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-0b7b2f5e-3c1d-4a59-9b1e-2f0f7c6a9d11-AbCdEf", true, false},
		{"arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-8f14e45f-ceea-467f-a8c4-5c5b2a4a7b3d-1a2B3c", true, false},
		{"arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:rds!db-8f14e45f-ceea-467f-a8c4-5c5b2a4a7b3d-1a2B3c", true, false},
		{"arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:rds!cluster-0b7b2f5e-3c1d-4a59-9b1e-2f0f7c6a9d11-AbCdEf", true, false},
		{"arn:aws-iso-b:secretsmanager:us-isob-east-1:123456789012:secret:events!connection/orders/1b2c-AbCdEf", true, false},
		// Caller-made secrets are both.
		{"arn:aws:secretsmanager:us-east-1:123456789012:secret:app/admin-AbCdEf", true, true},
		{"arn:aws-us-gov:secretsmanager:us-gov-east-1:123456789012:secret:app/admin-AbCdEf", true, true},
		// Not secret ARNs at all.
		{"arn:aws:secretsmanager:us-east-1:123456789012:secret:", false, false},
		{"arn:aws:secretsmanager:us-east-1:123456789012:secret:rds?db-1", false, false},
		{"arn:aws:secretsmanager:us-east-1:12345678901:secret:rds!db-1", false, false},
		{"arn:aws:rds:us-east-1:123456789012:secret:rds!db-1", false, false},
		{"arn:gcp:secretsmanager:us-east-1:123456789012:secret:rds!db-1", false, false},
		{"arn:aws:secretsmanager::123456789012:secret:rds!db-1", false, false},
		{"rds!db-8f14e45f", false, false},
	} {
		if _, ok := ParseAnySecretARN(tc.arn); ok != tc.any {
			t.Errorf("ParseAnySecretARN(%q) ok = %v, want %v", tc.arn, ok, tc.any)
		}
		if _, ok := ParseSecretARN(tc.arn); ok != tc.ours {
			t.Errorf("ParseSecretARN(%q) ok = %v, want %v", tc.arn, ok, tc.ours)
		}
	}
}

func TestIsKMSKeyID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"1234abcd-12ab-34cd-56ef-1234567890ab", true},
		{"mrk-1234abcd12ab34cd56ef1234567890ab", true},
		{"arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", true},
		{"arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab", true},
		{"arn:aws-cn:kms:cn-north-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", true},
		{"arn:aws-us-gov:kms:us-gov-west-1:123456789012:alias/orders-key", true},
		{"alias/orders-key", true},
		{"alias/aws/secretsmanager", true},
		{"alias/team/orders_key-2", true},
		{"arn:aws:kms:us-east-1:123456789012:alias/aws/secretsmanager", true},
		{"", false},
		{"alias/", false},
		{"alias/orders key", false},
		{"alias/" + strings.Repeat("a", 251), false},
		{"orders-key", false},
		{"1234abcd-12ab-34cd-56ef-1234567890a", false},
		{"1234abcd_12ab-34cd-56ef-1234567890ab", false},
		{"1234abcg-12ab-34cd-56ef-1234567890ab", false},
		{"mrk-1234abcd12ab34cd56ef1234567890a", false},
		{"mrk-1234abcd12ab34cd56ef1234567890ax", false},
		{"arn:aws:kms:us-east-1:123456789012:key/orders", false},
		{"arn:aws:kms:us-east-1:123456789012:keys/1234abcd-12ab-34cd-56ef-1234567890ab", false},
		{"arn:aws:secretsmanager:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", false},
		{"arn:aws:kms:us-east-1:1234:key/1234abcd-12ab-34cd-56ef-1234567890ab", false},
	} {
		if got := IsKMSKeyID(tc.id); got != tc.want {
			t.Errorf("IsKMSKeyID(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

func TestParseFunctionARNIsItsExpression(t *testing.T) {
	functionARN := regexp.MustCompile(`^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}(:(\$LATEST|[A-Za-z0-9_-]{1,128}))?$`)
	r := rand.New(rand.NewPCG(3, 4))
	seeds := []string{
		"arn:aws:lambda:us-east-1:123456789012:function:SecretsManagerRDSPostgreSQLRotationSingleUser",
		"arn:aws-cn:lambda:cn-north-1:123456789012:function:rotate_pg-1:live",
		"arn:aws:lambda:eu-west-1:123456789012:function:f:$LATEST",
		"arn:aws:lambda:eu-west-1:123456789012:function:f:7",
		"arn:aws:lambda:eu-west-1:123456789012:function:" + strings.Repeat("f", 64),
		"arn:aws:lambda:eu-west-1:123456789012:function:" + strings.Repeat("f", 65),
		"arn:aws:lambda:eu-west-1:123456789012:layer:f:1",
		"arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-AbCdEf",
	}
	for _, seed := range seeds {
		for i := 0; i < 3000; i++ {
			s := seed
			if i > 0 {
				s = mutate(r, seed)
			}
			if _, ok := ParseFunctionARN(s); ok != functionARN.MatchString(s) {
				t.Fatalf("ParseFunctionARN(%q) ok = %v, the expression says %v", s, ok, !ok)
			}
		}
	}
	a, ok := ParseFunctionARN("arn:aws:lambda:eu-west-1:123456789012:function:rotate:live")
	if !ok || a.Name != "rotate" || a.Qualifier != "live" || a.Region != "eu-west-1" || a.Account != "123456789012" {
		t.Fatalf("parsed %+v, %v", a, ok)
	}
}

func TestSecretARNPrefix(t *testing.T) {
	for region, want := range map[string]string{
		"us-east-1":     "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/",
		"cn-north-1":    "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:app/",
		"us-gov-west-1": "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:app/",
	} {
		if got := SecretARNPrefix(region, "123456789012", "app/"); got != want {
			t.Errorf("%s: %s, want %s", region, got, want)
		}
	}
}
