package deployment

import (
	"strings"
	"testing"

	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/secretspec"
)

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		want    provision.Config
	}{
		{"defaults", map[string]string{"AWS_REGION": "us-east-1", EnvNamePrefix: "app/"}, "", provision.Config{NamePrefix: "app/", Region: "us-east-1"}},
		{"no prefix", map[string]string{"AWS_REGION": "us-east-1"}, "SecretNamePrefix", provision.Config{}},
		{"prefix not at a path boundary", map[string]string{"AWS_REGION": "us-east-1", EnvNamePrefix: "app"}, `end with "/"`, provision.Config{}},
		{"prefix of a slash only", map[string]string{"AWS_REGION": "us-east-1", EnvNamePrefix: "/"}, `not start with "/"`, provision.Config{}},
		{"nested prefix", map[string]string{"AWS_REGION": "us-east-1", EnvNamePrefix: "team/app/"}, "", provision.Config{NamePrefix: "team/app/", Region: "us-east-1"}},
		{"list with spaces", map[string]string{"AWS_REGION": "us-east-1", EnvNamePrefix: "app/", EnvDefaultReplicas: " eu-west-1, ,ap-south-1 "}, "",
			provision.Config{NamePrefix: "app/", Region: "us-east-1", DefaultReplicas: secretspec.Replicas{{Region: "eu-west-1"}, {Region: "ap-south-1"}}}},
		{"fallback Region", map[string]string{"AWS_DEFAULT_REGION": "eu-west-2", EnvNamePrefix: "app/"}, "", provision.Config{NamePrefix: "app/", Region: "eu-west-2"}},
		{"bad prefix", map[string]string{EnvNamePrefix: "app db/"}, "SecretNamePrefix", provision.Config{}},
		{"bad replica", map[string]string{EnvNamePrefix: "app/", EnvDefaultReplicas: "Europe"}, "DEFAULT_REPLICA_REGIONS", provision.Config{}},
		{"an unknown caller scope", map[string]string{EnvNamePrefix: "app/", EnvCallerScope: "team"}, "CallerScope", provision.Config{}},
		{"a JWT scope without its claim", map[string]string{EnvNamePrefix: "app/", EnvCallerScope: "jwt-claim"}, "CallerScopeClaim", provision.Config{}},
		{"TLS neither true nor false", map[string]string{EnvNamePrefix: "app/", EnvRequireTLS: "yes"}, EnvRequireTLS, provision.Config{}},
		{"a connection limit that is no number", map[string]string{EnvNamePrefix: "app/", EnvConnectionLimit: "many"}, "DatabaseUserConnectionLimit", provision.Config{}},
		{"a negative connection limit", map[string]string{EnvNamePrefix: "app/", EnvConnectionLimit: "-1"}, "DatabaseUserConnectionLimit", provision.Config{}},
		{"grants that are no array", map[string]string{EnvNamePrefix: "app/", "DATABASE_USER_GRANTS": "{}"}, "DATABASE_USER_GRANTS", provision.Config{}},
		{"replica is the primary", map[string]string{"AWS_REGION": "us-east-1", EnvNamePrefix: "app/", EnvDefaultReplicas: "us-east-1"}, "primary Region", provision.Config{}},
		{"no account", map[string]string{"AWS_REGION": "us-east-1", EnvNamePrefix: "app/", EnvAccountID: " "}, EnvAccountID, provision.Config{}},
		{"a reader account that is no account id", map[string]string{"AWS_REGION": "us-east-1", EnvNamePrefix: "app/", EnvReaderAccounts: "444455556666,acme"}, "ReaderAccounts", provision.Config{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Config(withAccount(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(errcode.Message(err), tt.wantErr) {
					t.Fatalf("got %v, want an error naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.NamePrefix != tt.want.NamePrefix || got.Region != tt.want.Region || len(got.DefaultReplicas) != len(tt.want.DefaultReplicas) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
			for i := range got.DefaultReplicas {
				if got.DefaultReplicas[i] != tt.want.DefaultReplicas[i] {
					t.Fatalf("got %+v, want %+v", got.DefaultReplicas, tt.want.DefaultReplicas)
				}
			}
		})
	}
}

func TestConnectionLimit(t *testing.T) {
	for value, want := range map[string]int{"": 0, "0": 0, "25": 25, " 100 ": 100} {
		cfg, err := Config(withAccount(map[string]string{EnvNamePrefix: "app/", EnvConnectionLimit: value}))
		if err != nil || cfg.DatabaseUserConnectionLimit != want || cfg.UserSettings().ConnectionLimit != want {
			t.Fatalf("%q: %d, %v", value, cfg.DatabaseUserConnectionLimit, err)
		}
	}
}

// withAccount is env as the template sets it: ACCOUNT_ID always, unless env
// says otherwise.
func withAccount(env map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := env[k]; ok || k != EnvAccountID {
			return v
		}
		return "111122223333"
	}
}

func TestReaderAccounts(t *testing.T) {
	cfg, err := Config(withAccount(map[string]string{"AWS_REGION": "us-east-1", EnvNamePrefix: "app/", EnvReaderAccounts: " 444455556666 ,"}))
	if err != nil {
		t.Fatal(err)
	}
	for account, want := range map[string]bool{"111122223333": true, "444455556666": true, "777788889999": false} {
		_, err := cfg.ReaderAccounts.Check([]string{"arn:aws:iam::" + account + ":role/reader"})
		if (err == nil) != want {
			t.Errorf("a reader in %s: %v, want allowed %v", account, err, want)
		}
	}
}
