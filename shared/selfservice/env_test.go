package selfservice_test

import (
	"testing"

	"github.com/dbcreds/provisioner/local/testenv/core"
	"github.com/dbcreds/provisioner/shared/selfservice"
)

// The API's tests run against the test servers core starts; in -short
// mode they are skipped and the unit tests run alone.
func TestMain(m *testing.M) { core.Run(m) }

const (
	primary, replica = core.Primary, core.Replica
	testGrants       = core.Grants
)

var (
	client     = core.Client
	testConfig = core.Config
	uniqueName = core.UniqueName
	decode     = core.Decode
	describe   = core.Describe
)

// apiService is the HTTP API's use cases under scope, as its function
// builds them, with its Idempotency-Key records in moto's DynamoDB.
func apiService(t *testing.T, scope string) *selfservice.API {
	t.Helper()
	cfg := testConfig(t, testGrants)
	cfg.CallerScope, cfg.CallerScopeClaim = scope, "team"
	api, err := selfservice.New(core.ServiceWith(t, cfg, nil, nil), core.Records(t))
	if err != nil {
		t.Fatal(err)
	}
	return api
}
