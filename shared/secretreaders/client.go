package secretreaders

import (
	"fmt"
	"strings"

	"github.com/dbcreds/provisioner/shared/awsclient"
	"github.com/dbcreds/provisioner/shared/awslite/kms"
	"github.com/dbcreds/provisioner/shared/awslite/sts"
	"github.com/dbcreds/provisioner/shared/userledger"
)

// FromEnvironment is the access every function builds at init: policies
// through its Secrets Manager client, KMS and STS clients from Lambda's
// environment (AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL_STS), and the grants'
// record in the table DATABASE_USERS_TABLE names. Building a client calls
// nothing.
func FromEnvironment(getenv func(string) string, policies PolicyAPI) (*Access, error) {
	s, err := awsclient.FromEnvironment(getenv)
	if err != nil {
		return nil, err
	}
	table := strings.TrimSpace(getenv(userledger.EnvTable))
	if table == "" {
		return nil, fmt.Errorf("%s is not set: the functions record the KMS grants they give readers in that DynamoDB table", userledger.EnvTable)
	}
	dynamo, err := userledger.ClientFromEnvironment(getenv)
	if err != nil {
		return nil, err
	}
	keys := kms.New(kms.Options{Region: s.Region, Credentials: s.Credentials, BaseEndpoint: s.Endpoint("KMS"), Retryer: s.Retryer(), HTTPClient: s.HTTPClient()})
	identity := sts.New(sts.Options{Region: s.Region, Credentials: s.Credentials, BaseEndpoint: s.Endpoint("STS"), Retryer: s.Retryer(), HTTPClient: s.HTTPClient()})
	return New(policies, keys, userledger.New(dynamo, table), identity)
}
