package provision

import (
	"context"
	"log/slog"
	"strconv"
	"time"

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

// abandon answers readers that failed after the secret was made. When a
// retry can finish the work (a passing failure of a request with an
// idempotency key), or the secret is an earlier attempt's, the secret
// stays and the result names it, as after a failed rotation. Otherwise
// nothing would finish it (a principal AWS refuses, a key that will not
// let the function grant): what this request made goes, its grants, its
// database user and the secret, at once, and the answer names nothing.
func (s *Service) abandon(ctx context.Context, r Request, result Result, keyed bool, cause error) (Result, error) {
	code := errcode.Of(cause)
	passing := code == errcode.Unavailable || code == errcode.Upstream || code == errcode.Throttled
	if result.Replayed || passing && keyed {
		return result, cause
	}
	undo, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTime(ctx))
	defer cancel()
	sec := secretstore.Secret{ARN: result.ARN, Name: result.Name, KmsKeyID: r.KmsKeyID, Replicas: result.ReplicationStatus, Tags: map[string]string{}}
	for _, t := range r.ownTags() {
		sec.Tags[t.Key] = t.Value
	}
	for i, rep := range s.ReplicasOf(r) {
		if i < len(sec.Replicas) && sec.Replicas[i].KmsKeyID == "" {
			sec.Replicas[i].KmsKeyID = rep.KmsKeyID
		}
	}
	log := slog.With("arn", result.ARN, "error", errcode.Public(cause))
	if _, err := s.Remove(undo, sec, r.Provenance.Via, DeleteOptions{ForceDeleteWithoutRecovery: true}); err != nil {
		log.ErrorContext(ctx, "could not remove the secret whose readers failed", "removeError", errcode.Public(err))
		return result, cause
	}
	log.InfoContext(ctx, "removed the secret whose readers could not be given access")
	return Result{}, cause
}

// undoTime is how long undoing may take: what is left of ctx's deadline,
// less a second to answer in, and at least a second.
func undoTime(ctx context.Context) time.Duration {
	d := 10 * time.Second
	if deadline, ok := ctx.Deadline(); ok {
		d = time.Until(deadline) - time.Second
	}
	return max(d, time.Second)
}
