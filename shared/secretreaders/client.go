package secretreaders

import (
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/dbcreds/provisioner/shared/awsclient"
)

// FromEnvironment is the access every function builds at init: policies
// through its Secrets Manager client, and KMS and STS clients from
// Lambda's environment (AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL_STS).
// Building a client calls nothing.
func FromEnvironment(getenv func(string) string, policies PolicyAPI) (*Access, error) {
	s, err := awsclient.FromEnvironment(getenv)
	if err != nil {
		return nil, err
	}
	keys := kms.New(kms.Options{Region: s.Region, Credentials: s.Credentials, BaseEndpoint: s.Endpoint("KMS"), Retryer: s.Retryer()})
	identity := sts.New(sts.Options{Region: s.Region, Credentials: s.Credentials, BaseEndpoint: s.Endpoint("STS"), Retryer: s.Retryer()})
	return New(policies, keys, identity)
}
