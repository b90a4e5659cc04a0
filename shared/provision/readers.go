package provision

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/dbcreds/provisioner/shared/awsname"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/secretreaders"
	"github.com/dbcreds/provisioner/shared/secretspec"
	"github.com/dbcreds/provisioner/shared/secretstore"
)

// Readers: who may read a secret (secretreaders), as each trigger's
// create, a stack's update and every delete apply it.

// copies are the copies r asks for, primary and replicas (its own or the
// deployment's), with the KMS key each is to be encrypted with.
func (s *Service) copies(r Request) []secretreaders.Copy {
	return s.copiesOfRequest(r, s.ReplicasOf(r))
}

// copiesOf are an existing secret's copies and their keys.
func (s *Service) copiesOf(sec secretstore.Secret) []secretreaders.Copy {
	out := []secretreaders.Copy{{Region: s.config.Region, KmsKeyID: sec.KmsKeyID, Field: "kmsKeyId"}}
	for i, rep := range sec.Replicas {
		out = append(out, secretreaders.Copy{Region: rep.Region, KmsKeyID: rep.KmsKeyID, Field: "replicaRegions[" + strconv.Itoa(i) + "].kmsKeyId"})
	}
	return out
}

// MaxGrants bounds the KMS grants one request makes: a reader on each
// customer managed key, the primary's and each replica's. At eight calls at
// once, a hundred end in a few seconds, well inside the function's time.
const MaxGrants = 100

// maxConstraintValue is KMS's limit on an encryption context value in a
// grant's constraint (CreateGrant, Constraints): a copy's SecretARN.
const maxConstraintValue = 384

// checkReaders holds r's readers to the deployment's ReaderAccounts, and
// to what KMS takes, before anything is made. A reader in another account
// must decrypt the secret, and the AWS managed key aws/secretsmanager
// cannot let it: its key policy is AWS's, and AWS documents that such
// secrets cannot be read across accounts
// (https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_examples_cross.html).
// So then the secret and each replica need a customer managed key.
func (s *Service) checkReaders(r Request, replicas secretspec.Replicas) error {
	cross, err := s.config.ReaderAccounts.Check(r.Readers)
	if err != nil || len(r.Readers) == 0 {
		return err
	}
	copies := s.copiesOfRequest(r, replicas)
	keyed := 0
	for _, c := range copies {
		if c.KmsKeyID != "" && !secretreaders.IsAWSManagedAlias(c.KmsKeyID) {
			keyed++
			// The grant names the copy's ARN: the name, a hyphen and six
			// characters Secrets Manager adds.
			if n := len(awsname.SecretARNPrefix(c.Region, s.config.ReaderAccounts.This(), r.Name) + "-AbCdEf"); n > maxConstraintValue {
				return errcode.Invalidf("name", "is too long for readers with a customer managed key: the secret's ARN in %s would be %d characters, over the %d KMS takes in a grant's constraint", c.Region, n, maxConstraintValue)
			}
			continue
		}
		if cross {
			why := "is required with readers in another account: the AWS managed key aws/secretsmanager cannot be shared across accounts, so the secret needs a customer managed key"
			if c.Field != "kmsKeyId" {
				why += " (in each replica Region too)"
			}
			return errcode.Invalidf(c.Field, "%s", why)
		}
	}
	if n := len(r.Readers) * keyed; n > MaxGrants {
		return errcode.Invalidf("readers", "would need %d KMS grants (%d readers on %d customer managed keys), over the %d one request may make: name fewer readers or replicas", n, len(r.Readers), keyed, MaxGrants)
	}
	return nil
}

// copiesOfRequest are r's copies with the replicas check found.
func (s *Service) copiesOfRequest(r Request, replicas secretspec.Replicas) []secretreaders.Copy {
	out := []secretreaders.Copy{{Region: s.config.Region, KmsKeyID: r.KmsKeyID, Field: "kmsKeyId"}}
	for i, rep := range replicas {
		out = append(out, secretreaders.Copy{Region: rep.Region, KmsKeyID: rep.KmsKeyID, Field: "replicaRegions[" + strconv.Itoa(i) + "].kmsKeyId"})
	}
	return out
}

// RetireReaders retires every KMS grant recorded for sec's readers, made
// through via, whatever key it is on. The resource policy stays with the
// secret: what a restore brings back is the secret as it was.
func (s *Service) RetireReaders(ctx context.Context, sec secretstore.Secret, via string) error {
	return s.readers.Retire(ctx, via, sec.ARN)
}

// RetireReadersOfGone retires the grants recorded for a secret that no
// longer exists: they name a secret that is gone, and nothing else would
// ever reach them.
func (s *Service) RetireReadersOfGone(ctx context.Context, via, secretARN string) error {
	return s.readers.Retire(ctx, via, secretARN)
}

// UpdateReaders brings an existing secret's readers to r's: before and
// after are the secret before and after the update's other changes (its
// keys and replicas may have moved: the grants recorded on the keys it
// left go). It answers the readers the secret has now.
func (s *Service) UpdateReaders(ctx context.Context, before, after secretstore.Secret, r Request) ([]string, error) {
	if len(r.Readers) == 0 && before.Tags[TagReaders] != "true" {
		// No policy of ours to remove; grants, if a failed update made any.
		return nil, s.readers.Retire(ctx, r.Provenance.Via, after.ARN)
	}
	var keys []secretreaders.Key
	if len(r.Readers) > 0 {
		cross, _ := s.config.ReaderAccounts.Check(r.Readers) // checked before
		var err error
		if keys, err = s.readers.Keys(ctx, s.copiesOf(after), cross); err != nil {
			return nil, err
		}
	}
	t := secretreaders.Target{Via: r.Provenance.Via, SecretARN: after.ARN, Readers: r.Readers, Keys: keys}
	if err := s.readers.Apply(ctx, t); err != nil {
		return nil, err
	}
	return r.Readers, nil
}

// Readers are the readers the secret's policy names, when the provisioner
// gave it readers and it is not scheduled for deletion.
func (s *Service) Readers(ctx context.Context, sec secretstore.Secret) ([]string, error) {
	if sec.Tags[TagReaders] != "true" || sec.Deleted {
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
