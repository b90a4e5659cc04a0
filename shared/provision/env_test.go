package provision_test

import (
	"testing"

	"github.com/dbcreds/provisioner/local/testenv/core"
)

// The core's integration tests run against the test servers core starts;
// in -short mode they are skipped and the unit tests run alone.
func TestMain(m *testing.M) { core.Run(m) }

const (
	primary, replica = core.Primary, core.Replica
	testGrants       = core.Grants
)

var (
	client       = core.Client
	service      = core.Service
	testConfig   = core.Config
	uniqueName   = core.UniqueName
	decode       = core.Decode
	secretValue  = core.SecretValue
	database     = core.Database
	masterSecret = core.MasterSecret
	storeMaster  = core.StoreMaster
	userRequest  = core.UserRequest
	byStack      = core.ByStack
	login        = core.Login
	asMaster     = core.AsMaster
	versionCount = core.VersionCount
	describe     = core.Describe
)
