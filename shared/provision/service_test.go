package provision

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dbcreds/provisioner/shared/dbgrants"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/secretreaders"
	"github.com/dbcreds/provisioner/shared/secretspec"
)

var testConfig = Config{NamePrefix: "app/", Region: "us-east-1", DefaultReplicas: secretspec.Replicas{{Region: "eu-west-1"}}, DatabaseUserGrants: onlyRDSMasters,
	ReaderAccounts: readerAccounts}

// readerAccounts: this account, 123456789012, and 444455556666.
var readerAccounts, _ = secretreaders.ParseAccounts("123456789012", "444455556666")

// onlyRDSMasters lets stacks name RDS-managed master secrets only.
var onlyRDSMasters, _ = dbgrants.Parse(`[{"caller": "stack:*", "masterSecret": "arn:*:secretsmanager:*:*:secret:rds!*", "databases": ["*"], "anyUser": true}]`)

// build builds body as a stack's request.
func build(t *testing.T, body, key string) (*secretsmanager.CreateSecretInput, string, error) {
	t.Helper()
	r, err := DecodeRequest([]byte(body))
	if err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	r.Provenance.Caller = dbgrants.Caller{Kind: dbgrants.KindStack, Name: "tests"}
	return (&Service{config: testConfig}).build(r, key)
}

// db is a valid database request body with extra members.
func db(extra string) string {
	if extra != "" {
		extra = "," + extra
	}
	return `{"name": "app/db", "engine": "postgres", "host": "h"` + extra + `}`
}

func tags(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = `{"key": "k` + strings.Repeat("x", i) + `", "value": "v"}`
	}
	return `"tags": [` + strings.Join(parts, ",") + `]`
}

// readersHere are n reader ARNs of this account, as JSON list items.
func readersHere(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = `"arn:aws:iam::123456789012:role/reader-` + strings.Repeat("r", i) + `"`
	}
	return strings.Join(parts, ",")
}

func b64(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }

// TestCreateSecretRules: each rule of the real CreateSecret API, and each of
// ours, with the field it names; the boundary that passes is tested too.
func TestCreateSecretRules(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name  string
		body  string
		code  errcode.Code // "" when the request is valid
		field string
		rule  string
	}{
		{"name required", `{"engine": "postgres", "host": "h"}`, errcode.Invalid, "name", "required"},
		{"a supplied value naming a master the caller may not", `{"name": "app/x", "secretString": "{\"username\": \"u\", \"MasterArn\": \"arn:aws:secretsmanager:us-east-1:123456789012:secret:other-AbCdEf\"}"}`, errcode.Forbidden, "secretString", "MasterArn"},
		{"a template naming a master the caller may not", `{"name": "app/x", "secretStringTemplate": "{\"masterarn\": \"arn:aws:secretsmanager:us-east-1:123456789012:secret:other-AbCdEf\"}", "generateStringKey": "password"}`, errcode.Forbidden, "secretStringTemplate", "anyUser"},
		{"a template naming a master granted with anyUser", `{"name": "app/x", "secretStringTemplate": "{\"masterarn\": \"arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1-AbCdEf\"}", "generateStringKey": "password"}`, "", "", ""},
		// Python's json.loads, which the rotation functions use, reads NaN.
		{"a supplied object Go cannot parse", `{"name": "app/x", "secretString": " {\"masterarn\": \"arn:aws:secretsmanager:us-east-1:123456789012:secret:other-AbCdEf\", \"z\": NaN}"}`, errcode.Invalid, "secretString", "does not parse strictly"},
		{"a supplied value that is no object", `{"name": "app/x", "secretString": "NaN masterarn"}`, "", "", ""},
		{"name at 512", `{"name": "app/` + long(508) + `", "engine": "postgres", "host": "h"}`, "", "", ""},
		{"name over 512", `{"name": "app/` + long(509) + `", "engine": "postgres", "host": "h"}`, errcode.Invalid, "name", "at most 512"},
		{"name with a space", `{"name": "app/my db", "engine": "postgres", "host": "h"}`, errcode.Invalid, "name", "ASCII letters, digits and /_+=.@-"},
		{"name with non-ASCII", `{"name": "app/dé", "engine": "postgres", "host": "h"}`, errcode.Invalid, "name", "ASCII letters"},
		{"name with every allowed character", `{"name": "app/A-z_0+9=.@x", "engine": "postgres", "host": "h"}`, "", "", ""},
		{"name ending like an ARN suffix", `{"name": "app/db-AbC123", "engine": "postgres", "host": "h"}`, errcode.Invalid, "name", "hyphen followed by six"},
		{"name with a hyphen and seven characters", `{"name": "app/db-AbC1234", "engine": "postgres", "host": "h"}`, "", "", ""},
		{"name with an empty path segment", `{"name": "app//db", "engine": "postgres", "host": "h"}`, errcode.Invalid, "name", "path segments"},
		{"name with a parent segment", `{"name": "app/../db", "engine": "postgres", "host": "h"}`, errcode.Invalid, "name", "path segments"},
		{"name with a dot segment", `{"name": "app/./db", "engine": "postgres", "host": "h"}`, errcode.Invalid, "name", "path segments"},
		{"name ending in a slash", `{"name": "app/db/", "engine": "postgres", "host": "h"}`, errcode.Invalid, "name", "path segments"},
		{"name with dots inside a segment", `{"name": "app/db..v2/x.y", "engine": "postgres", "host": "h"}`, "", "", ""},
		{"name outside the prefix", `{"name": "other/db", "engine": "postgres", "host": "h"}`, errcode.Forbidden, "name", `prefix "app/"`},
		{"prefix is case-sensitive", `{"name": "App/db", "engine": "postgres", "host": "h"}`, errcode.Forbidden, "name", "prefix"},
		{"description at 2048 characters of two bytes", db(`"description": "` + strings.Repeat("é", 2048) + `"`), "", "", ""},
		{"description over 2048", db(`"description": "` + long(2049) + `"`), errcode.Invalid, "description", "at most 2048"},
		{"kms key id over 2048", db(`"kmsKeyId": "` + long(2049) + `"`), errcode.Invalid, "kmsKeyId", "at most 2048"},
		{"kms key id", db(`"kmsKeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"`), "", "", ""},
		{"kms multi-Region key id", db(`"kmsKeyId": "mrk-1234abcd12ab34cd56ef1234567890ab"`), "", "", ""},
		{"kms key ARN", db(`"kmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"`), "", "", ""},
		{"kms alias", db(`"kmsKeyId": "alias/orders"`), "", "", ""},
		{"kms alias ARN in GovCloud", db(`"kmsKeyId": "arn:aws-us-gov:kms:us-gov-west-1:123456789012:alias/orders"`), "", "", ""},
		{"kms key by a bare name", db(`"kmsKeyId": "orders"`), errcode.Invalid, "kmsKeyId", "alias name (alias/NAME)"},
		{"kms key ARN of another service", db(`"kmsKeyId": "arn:aws:s3:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"`), errcode.Invalid, "kmsKeyId", "KMS key id"},
		{"replica kms alias", db(`"replicaRegions": [{"region": "eu-west-2", "kmsKeyId": "alias/orders"}]`), "", "", ""},
		{"replica kms key malformed", db(`"replicaRegions": [{"region": "eu-west-2", "kmsKeyId": "key/1"}]`), errcode.Invalid, "replicaRegions[0].kmsKeyId", "KMS key id"},
		{"RDS-managed master secret", db(`"masterSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-0b7b2f5e-3c1d-4a59-9b1e-2f0f7c6a9d11-AbCdEf"`), "", "", ""},
		{"RDS-managed master secret in China", db(`"masterSecretArn": "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:rds!db-8f14e45f-ceea-467f-a8c4-5c5b2a4a7b3d-1a2B3c"`), "", "", ""},
		{"db2 with an RDS-managed master secret", `{"name": "app/d", "engine": "db2", "host": "h", "masterSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-8f14e45f-ceea-467f-a8c4-5c5b2a4a7b3d-1a2B3c"}`, "", "", ""},
		{"master secret not an ARN", db(`"masterSecretArn": "rds!db-1"`), errcode.Invalid, "masterSecretArn", "secret ARN"},
		{"50 tags", `{"name": "app/s", "secretStringTemplate": "{}", "generateStringKey": "k", ` + tags(50) + `}`, "", "", ""},
		{"51 tags", `{"name": "app/s", "secretStringTemplate": "{}", "generateStringKey": "k", ` + tags(51) + `}`, errcode.Invalid, "tags", "at most 50"},
		// A database secret's engine tag takes no tag from the caller.
		{"50 tags on a database secret", db(tags(50)), "", "", ""},
		{"tag key at 127", db(`"tags": {"` + long(127) + `": "v"}`), "", "", ""},
		{"tag key over 127", db(`"tags": {"` + long(128) + `": "v"}`), errcode.Invalid, "tags[0].key", "at most 127"},
		{"tag value at 255", db(`"tags": {"k": "` + long(255) + `"}`), "", "", ""},
		{"tag value over 255", db(`"tags": {"k": "` + long(256) + `"}`), errcode.Invalid, "tags[0].value", "at most 255"},
		{"tag key empty", db(`"tags": [{"key": "", "value": "v"}]`), errcode.Invalid, "tags[0].key", "required"},
		{"tag key aws: prefix", db(`"tags": {"aws:team": "x"}`), errcode.Invalid, "tags[0].key", `"aws:"`},
		{"tag key AWS: prefix", db(`"tags": {"AWS:team": "x"}`), errcode.Invalid, "tags[0].key", `"aws:"`},
		{"reserved tag key", db(`"tags": {"provisioned-by": "x"}`), errcode.Invalid, "tags[0].key", "set by the provisioner"},
		{"reserved tag key in another case", db(`"tags": {"Provisioned-Via": "x"}`), errcode.Invalid, "tags[0].key", "set by the provisioner"},
		{"reserved tag key in upper case", db(`"tags": {"IDEMPOTENCY-KEY": "x"}`), errcode.Invalid, "tags[0].key", "set by the provisioner"},
		{"tag key twice", db(`"tags": [{"key": "a", "value": "1"}, {"key": "a", "value": "2"}]`), errcode.Invalid, "tags[1].key", "given twice"},
		{"tag keys differing in case are two tags", db(`"tags": [{"key": "a", "value": "1"}, {"key": "A", "value": "2"}]`), "", "", ""},
		{"replica region upper case", db(`"replicaRegions": ["EU-WEST-1"]`), errcode.Invalid, "replicaRegions[0].region", "not a Region name"},
		{"replica region without number", db(`"replicaRegions": ["eu-west"]`), errcode.Invalid, "replicaRegions[0].region", "not a Region name"},
		{"replica region empty", db(`"replicaRegions": [{"kmsKeyId": "k"}]`), errcode.Invalid, "replicaRegions[0].region", "not a Region name"},
		{"replica in the primary Region", db(`"replicaRegions": ["us-east-1"]`), errcode.Invalid, "replicaRegions[0].region", "primary Region"},
		{"replica twice", db(`"replicaRegions": ["eu-west-2", "eu-west-2"]`), errcode.Invalid, "replicaRegions[1].region", "given twice"},
		{"replica kms key over 2048", db(`"replicaRegions": [{"region": "eu-west-2", "kmsKeyId": "` + long(2049) + `"}]`), errcode.Invalid, "replicaRegions[0].kmsKeyId", "at most 2048"},
		{"gov cloud replica", db(`"replicaRegions": ["us-gov-west-1"]`), "", "", ""},
		{"secret string at 65536 bytes", `{"name": "app/s", "secretString": "` + long(65536) + `"}`, "", "", ""},
		{"secret string over 65536 bytes", `{"name": "app/s", "secretString": "` + long(65537) + `"}`, errcode.Invalid, "secretString", "at most 65536"},
		{"secret binary at 65536 bytes", `{"name": "app/s", "secretBinary": "` + b64(65536) + `"}`, "", "", ""},
		{"secret binary over 65536 bytes", `{"name": "app/s", "secretBinary": "` + b64(65537) + `"}`, errcode.Invalid, "secretBinary", "at most 65536"},
		{"secret string and binary", `{"name": "app/s", "secretString": "x", "secretBinary": "AA=="}`, errcode.Invalid, "secretBinary", "cannot be given with secretString"},
		{"secret string with an engine", `{"name": "app/s", "secretString": "x", "engine": "mysql"}`, errcode.Invalid, "engine", "cannot be given with secretString"},
		{"secret string with a policy", `{"name": "app/s", "secretString": "x", "passwordLength": 12}`, errcode.Invalid, "passwordLength", "no password is generated"},
		{"secret binary with a template", `{"name": "app/s", "secretBinary": "AA==", "generateStringKey": "k"}`, errcode.Invalid, "secretStringTemplate", "cannot be given with secretBinary"},
		{"template without key", `{"name": "app/s", "secretStringTemplate": "{}"}`, errcode.Invalid, "generateStringKey", "required with secretStringTemplate"},
		{"key without template", `{"name": "app/s", "generateStringKey": "k"}`, errcode.Invalid, "secretStringTemplate", "required with generateStringKey"},
		{"template not an object", `{"name": "app/s", "secretStringTemplate": "[1]", "generateStringKey": "k"}`, errcode.Invalid, "secretStringTemplate", "JSON object"},
		{"template already has the key", `{"name": "app/s", "secretStringTemplate": "{\"k\": 1}", "generateStringKey": "k"}`, errcode.Invalid, "generateStringKey", "already a key"},
		{"template with an engine", `{"name": "app/s", "secretStringTemplate": "{}", "generateStringKey": "k", "host": "h"}`, errcode.Invalid, "host", "cannot be given with secretStringTemplate"},
		{"template too large once generated", `{"name": "app/s", "secretStringTemplate": "{\"a\": \"` + long(65500) + `\"}", "generateStringKey": "k"}`, errcode.Invalid, "secretStringTemplate", "at most 65536"},
		{"nothing to store", `{"name": "app/s"}`, errcode.Invalid, "engine", "is required"},
		{"host without engine", `{"name": "app/s", "host": "h"}`, errcode.Invalid, "engine", "required with host"},
		{"unknown engine", `{"name": "app/s", "engine": "cassandra", "host": "h"}`, errcode.Invalid, "engine", "known engines"},
		{"huge engine is not echoed", `{"name": "app/s", "engine": "` + long(200_000) + `", "host": "h"}`, errcode.Invalid, "engine", `"` + long(100) + `... (200000 bytes in all)"; known engines`},
		{"exclude 4096 characters the caller wrote", db(`"excludeCharacters": "` + strings.Repeat("ab", 2048) + `"`), "", "", ""},
		{"exclude 4097 characters the caller wrote", db(`"excludeCharacters": "` + strings.Repeat("ab", 2048) + `c"`), errcode.Invalid, "excludeCharacters", "at most 4096"},
		{"database password of spaces only", db(`"includeSpace": true, "excludeUppercase": true, "excludeLowercase": true, "excludeNumbers": true, "excludePunctuation": true`), errcode.Invalid, "includeSpace", "spaces only"},
		{"template password of spaces only is the caller's choice", `{"name": "app/s", "secretStringTemplate": "{}", "generateStringKey": "k", "includeSpace": true, "excludeUppercase": true, "excludeLowercase": true, "excludeNumbers": true, "excludePunctuation": true}`, "", "", ""},
		{"port zero", db(`"port": 0`), errcode.Invalid, "port", "between 1 and 65535"},
		{"extra fields too large", db(`"extraFields": {"blob": "` + long(65500) + `"}`), errcode.Invalid, "extraFields", "at most 65536"},
		{"unsatisfiable policy", db(`"passwordLength": 2`), errcode.Invalid, "passwordLength", "at least 4"},
		{"a master secret the grants do not name", db(`"masterSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:team/master-AbCdEf"`), errcode.Forbidden, "masterSecretArn", "multi-user rotation"},
		{"a reader here, with the AWS managed key", db(`"readers": ["arn:aws:iam::123456789012:role/app"]`), "", "", ""},
		{"a reader elsewhere needs a customer key", db(`"readers": ["arn:aws:iam::444455556666:role/app"]`), errcode.Invalid, "kmsKeyId", "cannot be shared across accounts"},
		{"a reader elsewhere, not with aws/secretsmanager", db(`"readers": ["arn:aws:iam::444455556666:role/app"], "kmsKeyId": "alias/aws/secretsmanager"`), errcode.Invalid, "kmsKeyId", "customer managed key"},
		{"a reader elsewhere needs a key in each replica Region", db(`"readers": ["arn:aws:iam::444455556666:role/app"], "kmsKeyId": "alias/app"`), errcode.Invalid, "replicaRegions[0].kmsKeyId", "each replica Region"},
		{"a reader elsewhere, keys everywhere", db(`"readers": ["arn:aws:iam::444455556666:role/app"], "kmsKeyId": "alias/app", "replicaRegions": [{"region": "eu-west-1", "kmsKeyId": "alias/app"}]`), "", "", ""},
		{"a reader in an account the deployment does not name", db(`"readers": ["arn:aws:iam::123456789012:role/app", "arn:aws:iam::777788889999:role/app"], "kmsKeyId": "alias/app", "replicaRegions": []`), errcode.Invalid, "readers[1]", "ReaderAccounts"},
		{"everyone as a reader", db(`"readers": ["*"]`), errcode.Invalid, "readers[0]", "not a pattern"},
		{"a service as a reader", db(`"readers": ["secretsmanager.amazonaws.com"]`), errcode.Invalid, "readers[0]", "not a service principal"},
		{"an account root elsewhere", db(`"readers": ["arn:aws:iam::777788889999:root"]`), errcode.Invalid, "readers[0]", "ReaderAccounts"},
		{"a hundred grants", db(`"readers": [` + readersHere(50) + `], "kmsKeyId": "alias/app", "replicaRegions": [{"region": "eu-west-1", "kmsKeyId": "alias/app"}]`), "", "", ""},
		{"more than a hundred grants", db(`"readers": [` + readersHere(34) + `], "kmsKeyId": "alias/app", "replicaRegions": [{"region": "eu-west-1", "kmsKeyId": "alias/app"}, {"region": "eu-central-1", "kmsKeyId": "alias/app"}]`), errcode.Invalid, "readers", "102 KMS grants"},
		{"many readers, no customer key: no grant", db(`"readers": [` + readersHere(50) + `]`), "", "", ""},
		{"the readers tag set by hand", db(`"tags": {"provisioned-readers": "true"}`), errcode.Invalid, "tags[0].key", "set by the provisioner"},
		{"oracle length over 30", `{"name": "app/o", "engine": "oracle", "host": "h", "dbname": "ORCL", "passwordLength": "31"}`, errcode.Invalid, "passwordLength", "at most 30"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, _, err := build(t, tt.body, "")
			if tt.code == "" {
				if err != nil || in == nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			var e *errcode.Error
			if !errors.As(err, &e) || e.Code != tt.code || e.Field != tt.field || !strings.Contains(e.Message, tt.rule) {
				t.Fatalf("got %v (%+v), want %s %q error containing %q", err, e, tt.code, tt.field, tt.rule)
			}
		})
	}
}

// TestBuildDatabaseSecret follows the CloudFormation fixture to the
// CreateSecret input: every property arrives where it belongs.
func TestBuildDatabaseSecret(t *testing.T) {
	in, username, err := build(t, string(readFixture(t, "request-cloudformation.json")), "request-1")
	if err != nil {
		t.Fatal(err)
	}
	if username != "orders_app" {
		t.Fatalf("username %q", username)
	}
	if aws.ToString(in.Name) != "app/orders/db" || aws.ToString(in.Description) != "orders database, application user" ||
		!in.ForceOverwriteReplicaSecret || aws.ToString(in.ClientRequestToken) != versionToken(Provenance{}, "request-1") {
		t.Fatalf("input %+v", in)
	}
	if len(in.AddReplicaRegions) != 1 || aws.ToString(in.AddReplicaRegions[0].Region) != "us-west-2" || aws.ToString(in.AddReplicaRegions[0].KmsKeyId) != "alias/orders" {
		t.Fatalf("replicas %+v", in.AddReplicaRegions)
	}
	if len(in.Tags) != 2 || aws.ToString(in.Tags[0].Key) != "team" || aws.ToString(in.Tags[0].Value) != "orders" ||
		aws.ToString(in.Tags[1].Key) != TagEngine || aws.ToString(in.Tags[1].Value) != "postgres" {
		t.Fatalf("tags %+v", in.Tags)
	}
	var secret map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(in.SecretString)), &secret); err != nil {
		t.Fatal(err)
	}
	password, _ := secret["password"].(string)
	delete(secret, "password")
	want := map[string]any{
		"engine": "postgres", "host": "orders.cluster-abc.eu-west-1.rds.amazonaws.com", "port": float64(5433),
		"dbname": "orders", "username": "orders_app", "ssl": true, "dbClusterIdentifier": "orders",
		"readerHost": "orders.cluster-ro-abc.eu-west-1.rds.amazonaws.com",
	}
	if len(secret) != len(want) {
		t.Fatalf("secret keys %v, want %v", secret, want)
	}
	for k, v := range want {
		if secret[k] != v {
			t.Errorf("secret[%q] = %v, want %v", k, secret[k], v)
		}
	}
	// Length 40 as asked; % excluded by the caller; / @ " ' \ and : by the
	// postgres rotation template.
	if len(password) != 40 || strings.ContainsAny(password, `%/@"'\:`) {
		t.Fatalf("password of length %d breaks the policy", len(password))
	}
}

func TestBuildTemplateSecret(t *testing.T) {
	in, username, err := build(t, string(readFixture(t, "request-template.json")), "")
	if err != nil {
		t.Fatal(err)
	}
	value := aws.ToString(in.SecretString)
	prefix := `{"client": "billing","apiKey":"`
	if username != "" || !strings.HasPrefix(value, prefix) || !strings.HasSuffix(value, `"}`) {
		t.Fatalf("secret string %q", value)
	}
	key := strings.TrimSuffix(strings.TrimPrefix(value, prefix), `"}`)
	if len(key) != 48 || strings.Trim(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != "" {
		t.Fatalf("generated key %q: want 48 letters and digits", key)
	}
	if in.ClientRequestToken != nil {
		t.Fatalf("no idempotency key, yet token %q", aws.ToString(in.ClientRequestToken))
	}
	if len(in.AddReplicaRegions) != 1 || aws.ToString(in.AddReplicaRegions[0].Region) != "eu-central-1" {
		t.Fatalf("replicas %+v: the request's own list replaces the defaults", in.AddReplicaRegions)
	}
}

func TestReplicaDefaults(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"omitted: the defaults", db(""), []string{"eu-west-1"}},
		{"empty list: none", db(`"replicaRegions": []`), nil},
		{"given: the request's", db(`"replicaRegions": ["ap-south-1"]`), []string{"ap-south-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, _, err := build(t, tt.body, "")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range in.AddReplicaRegions {
				got = append(got, aws.ToString(r.Region))
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("replicas %v, want %v", got, tt.want)
			}
		})
	}
}

// TestGeneratedUsernameFollowsKey: a retry of one request names the same
// user, while the password is always new.
func TestGeneratedUsernameFollowsKey(t *testing.T) {
	secret := func(key string) map[string]any {
		in, _, err := build(t, `{"name": "app/db", "engine": "mysql", "host": "h"}`, key)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(aws.ToString(in.SecretString)), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	a1, a2, b := secret("key-a"), secret("key-a"), secret("key-b")
	if a1["username"] != a2["username"] {
		t.Fatalf("same key, usernames %v and %v", a1["username"], a2["username"])
	}
	if a1["username"] == b["username"] {
		t.Fatalf("different keys, same username %v", b["username"])
	}
	if a1["password"] == a2["password"] {
		t.Fatal("a retry repeated the password")
	}
	if u := a1["username"].(string); len(u) != 10 {
		t.Fatalf("username %q: want 10 characters, within mysql's clone cap", u)
	}
	if n1, n2 := secret(""), secret(""); n1["username"] == n2["username"] {
		t.Fatal("without a key, usernames repeat")
	}
}

// TestDatabasePasswordNeverOnlySpaces: a one-character policy that allows
// spaces and requires no type would give " " one time in 95.
func TestDatabasePasswordNeverOnlySpaces(t *testing.T) {
	for i := 0; i < 2000; i++ {
		in, _, err := build(t, db(`"passwordLength": 1, "includeSpace": true, "requireEachIncludedType": false`), "")
		if err != nil {
			t.Fatal(err)
		}
		var v struct{ Password string }
		json.Unmarshal([]byte(aws.ToString(in.SecretString)), &v)
		if strings.TrimSpace(v.Password) == "" {
			t.Fatalf("attempt %d made the password %q", i, v.Password)
		}
	}
}

// TestMasterForAnyUserNeedsAnyUser: a grant to make users with a master is
// no grant to name it for a user the provisioner does not make, where AWS's
// multi-user rotation would act as the master on any username.
func TestMasterForAnyUserNeedsAnyUser(t *testing.T) {
	grants, err := dbgrants.Parse(`[{"caller": "stack:*", "masterSecret": "arn:*:secretsmanager:*:*:secret:rds!*", "databases": ["orders"], "schemas": ["teamb"]}]`)
	if err != nil {
		t.Fatal(err)
	}
	svc := &Service{config: testConfig}
	svc.config.DatabaseUserGrants = grants
	for name, body := range map[string]string{
		"masterSecretArn":      `{"name": "app/x", "engine": "postgres", "host": "h", "dbname": "orders", "username": "postgres", "masterSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1-AbCdEf"}`,
		"secretString":         `{"name": "app/x", "secretString": "{\"username\": \"postgres\", \"masterarn\": \"arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1-AbCdEf\"}"}`,
		"secretStringTemplate": `{"name": "app/x", "secretStringTemplate": "{\"username\": \"postgres\", \"masterarn\": \"arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1-AbCdEf\"}", "generateStringKey": "password"}`,
	} {
		t.Run(name, func(t *testing.T) {
			r, err := DecodeRequest([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			r.Provenance.Caller = dbgrants.Caller{Kind: dbgrants.KindStack, Name: "orders"}
			_, _, err = svc.build(r, "")
			if errcode.Of(err) != errcode.Forbidden || errcode.FieldOf(err) != name || !strings.Contains(err.Error(), "anyUser") {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// TestVersionTokenIsTheRequesters: one key under two provenances gives two
// tokens, so no request replays a secret another requester made (a stack's
// key is chosen by whoever invokes the function; an API key by its caller).
func TestVersionTokenIsTheRequesters(t *testing.T) {
	api := Provenance{Via: "http-api", By: "arn:aws:sts::123456789012:assumed-role/payments"}
	stack := Provenance{Via: "cloudformation", By: "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1#R"}
	key := "arn:aws:sts::123456789012:assumed-role/payments\x00deploy/42"
	switch {
	case versionToken(api, key) == versionToken(stack, key):
		t.Fatal("two triggers share a token for one key")
	case versionToken(api, key) == versionToken(Provenance{Via: "http-api", By: "arn:aws:sts::123456789012:assumed-role/orders"}, key):
		t.Fatal("two callers share a token for one key")
	case versionToken(api, key) != versionToken(api, key) || versionToken(api, "") != "":
		t.Fatal("the token is not the same for a retry, or a request without a key has one")
	}
}

// TestOnlyStacksOverwriteReplicaRegions: forceOverwriteReplicaSecret would
// replace a secret of the same name someone else made in a replica Region:
// an API caller or an event may not ask it.
func TestOnlyStacksOverwriteReplicaRegions(t *testing.T) {
	body := `{"name": "app/db", "engine": "postgres", "host": "h", "replicaRegions": ["eu-west-1"], "forceOverwriteReplicaSecret": true}`
	for kind, want := range map[string]errcode.Code{dbgrants.KindStack: "", dbgrants.KindAPI: errcode.Forbidden, dbgrants.KindEvents: errcode.Forbidden} {
		r, err := DecodeRequest([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Provenance.Caller = dbgrants.Caller{Kind: kind, Name: "x"}
		_, _, err = (&Service{config: testConfig}).build(r, "")
		if errcode.Of(err) != want || want != "" && errcode.FieldOf(err) != "forceOverwriteReplicaSecret" {
			t.Errorf("%s: %v, want %q", kind, err, want)
		}
	}
}

// TestUserPasswordsCarryEntropy: with createDatabaseUser a request may not
// shrink the password's characters until it guards nothing (16 of one
// letter); the defaults, and a long enough narrow one, pass.
func TestUserPasswordsCarryEntropy(t *testing.T) {
	const user = `"createDatabaseUser": true, "masterSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1-AbCdEf"`
	for _, tt := range []struct {
		name, extra string
		ok          bool
	}{
		{"the defaults", ``, true},
		{"one letter", `, "passwordLength": 16, "excludeNumbers": true, "excludePunctuation": true, "excludeUppercase": true, "excludeCharacters": "bcdefghijklmnopqrstuvwxyz"`, false},
		{"sixteen digits", `, "passwordLength": 16, "excludePunctuation": true, "excludeUppercase": true, "excludeLowercase": true`, false},
		{"twenty digits", `, "passwordLength": 20, "excludePunctuation": true, "excludeUppercase": true, "excludeLowercase": true`, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := build(t, db(user+tt.extra), "")
			if tt.ok != (err == nil) || !tt.ok && errcode.FieldOf(err) != "passwordLength" {
				t.Fatalf("got %v", err)
			}
		})
	}
}
