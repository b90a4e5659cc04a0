package stack_test

import (
	"testing"

	"github.com/dbcreds/provisioner/local/testenv/core"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/rotation"
	"github.com/dbcreds/provisioner/shared/secretstore"
	"github.com/dbcreds/provisioner/shared/stack"
)

// The lifecycle's tests run against the test servers core starts; in
// -short mode they are skipped.
func TestMain(m *testing.M) { core.Run(m) }

const (
	primary, replica, account = core.Primary, core.Replica, core.Account
	testGrants                = core.Grants
)

var (
	client       = core.Client
	testConfig   = core.Config
	uniqueName   = core.UniqueName
	decode       = core.Decode
	secretValue  = core.SecretValue
	database     = core.Database
	masterSecret = core.MasterSecret
	userRequest  = core.UserRequest
	login        = core.Login
	asMaster     = core.AsMaster
	versionCount = core.VersionCount
	describe     = core.Describe
)

// lifecycle is the custom resource's, as its function builds it.
func lifecycle(t *testing.T) *stack.Lifecycle {
	t.Helper()
	return lifecycleOf(t, core.Service(t), core.SecretsClient(t))
}

func lifecycleOf(t *testing.T, svc *provision.Service, c secretstore.ManagerClient) *stack.Lifecycle {
	t.Helper()
	l, err := stack.New(svc, secretstore.NewManager(c))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// rotating builds a lifecycle with the deployment's rotation settings env,
// counting rotation calls.
func rotating(t *testing.T, env map[string]string) (*stack.Lifecycle, *countingRotations) {
	t.Helper()
	defaults, err := rotation.DefaultsFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	c := &countingRotations{Client: client(t, primary)}
	cfg := testConfig(t, testGrants)
	cfg.Rotation = defaults
	svc := core.ServiceWith(t, cfg, secretstore.New(c), rotation.NewWithCancel(c))
	return lifecycleOf(t, svc, c), c
}
