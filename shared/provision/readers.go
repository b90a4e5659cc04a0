package provision

import (
	"context"
	"strconv"

	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/secretreaders"
	"github.com/dbcreds/provisioner/shared/secretspec"
	"github.com/dbcreds/provisioner/shared/secretstore"
)

// Readers: who may read a secret (secretreaders), as each trigger's
// create, a stack's update and every delete apply it.

// copies are the copies r asks for, primary and replicas, with the KMS key
// each is to be encrypted with.
func (s *Service) copies(r Request) []secretreaders.Copy {
	out := []secretreaders.Copy{{Region: s.config.Region, KmsKeyID: r.KmsKeyID, Field: "kmsKeyId"}}
	for i, rep := range s.ReplicasOf(r) {
		out = append(out, secretreaders.Copy{Region: rep.Region, KmsKeyID: rep.KmsKeyID, Field: "replicaRegions[" + strconv.Itoa(i) + "].kmsKeyId"})
	}
	return out
}

// copiesOf are an existing secret's copies and their keys.
func (s *Service) copiesOf(sec secretstore.Secret) []secretreaders.Copy {
	out := []secretreaders.Copy{{Region: s.config.Region, KmsKeyID: sec.KmsKeyID, Field: "kmsKeyId"}}
	for i, rep := range sec.Replicas {
		out = append(out, secretreaders.Copy{Region: rep.Region, KmsKeyID: rep.KmsKeyID, Field: "replicaRegions[" + strconv.Itoa(i) + "].kmsKeyId"})
	}
	return out
}

// checkReaders holds r's readers to the deployment's ReaderAccounts. A
// reader in another account must decrypt the secret, and the AWS managed
// key aws/secretsmanager cannot let it: its key policy is AWS's, and AWS
// documents that such secrets cannot be read across accounts
// (https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_examples_cross.html).
// So then the secret and each replica need a customer managed key.
func (s *Service) checkReaders(r Request, replicas secretspec.Replicas) error {
	cross, err := s.config.ReaderAccounts.Check(r.Readers)
	if err != nil || !cross {
		return err
	}
	why := "is required with readers in another account: the AWS managed key aws/secretsmanager cannot be shared across accounts, so the secret needs a customer managed key"
	if r.KmsKeyID == "" || secretreaders.IsAWSManagedAlias(r.KmsKeyID) {
		return errcode.Invalidf("kmsKeyId", "%s", why)
	}
	for i, rep := range replicas {
		if rep.KmsKeyID == "" || secretreaders.IsAWSManagedAlias(rep.KmsKeyID) {
			return errcode.Invalidf("replicaRegions["+strconv.Itoa(i)+"].kmsKeyId", "%s (in each replica Region too)", why)
		}
	}
	return nil
}

// RetireReaders retires the KMS grants the provisioner gave sec's readers,
// on every key of every copy. The resource policy stays with the secret:
// what a restore brings back is the secret as it was.
func (s *Service) RetireReaders(ctx context.Context, sec secretstore.Secret) error {
	if sec.Tags[TagReaders] != "true" {
		return nil
	}
	keys, err := s.readers.KeysOf(ctx, s.copiesOf(sec))
	if err != nil {
		return err
	}
	return s.readers.Retire(ctx, sec.ARN, keys)
}

// UpdateReaders brings an existing secret's readers to r's: before and
// after are the secret before and after the update's other changes (its
// keys and replicas may have moved, and the grants on the old ones go). It
// answers the readers the secret has now.
func (s *Service) UpdateReaders(ctx context.Context, before, after secretstore.Secret, r Request) ([]string, error) {
	had := before.Tags[TagReaders] == "true"
	if len(r.Readers) == 0 && !had {
		return nil, nil
	}
	var keys, previous []secretreaders.Key
	var err error
	if len(r.Readers) > 0 {
		cross, _ := s.config.ReaderAccounts.Check(r.Readers) // checked before
		keys, err = s.readers.Keys(ctx, s.copiesOf(after), cross)
	} else {
		keys, err = s.readers.KeysOf(ctx, s.copiesOf(after))
	}
	if err == nil && had {
		previous, err = s.readers.KeysOf(ctx, s.copiesOf(before))
	}
	if err != nil {
		return nil, err
	}
	if err := s.readers.Apply(ctx, secretreaders.Target{SecretARN: after.ARN, Readers: r.Readers, Keys: keys, Previous: previous}); err != nil {
		return nil, err
	}
	return r.Readers, nil
}

// Readers are the readers the secret's policy names, when the provisioner
// gave it readers.
func (s *Service) Readers(ctx context.Context, sec secretstore.Secret) ([]string, error) {
	if sec.Tags[TagReaders] != "true" {
		return nil, nil
	}
	return s.readers.Readers(ctx, sec.ARN)
}
