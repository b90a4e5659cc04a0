package secretstore

import (
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	smithy "github.com/aws/smithy-go"

	"github.com/dbcreds/provisioner/shared/awsclient"
	"github.com/dbcreds/provisioner/shared/errcode"
)

// Classify turns an SDK error into a coded error. The service's own message
// is kept for the caller only where it is about the caller's input; anything
// else keeps it as the cause, for the log.
func Classify(err error) error {
	if err == nil {
		return nil
	}
	var (
		exists       *types.ResourceExistsException
		notFound     *types.ResourceNotFoundException
		invalidParam *types.InvalidParameterException
		invalidReq   *types.InvalidRequestException
		malformed    *types.MalformedPolicyDocumentException
		precondition *types.PreconditionNotMetException
		publicPolicy *types.PublicPolicyException
		encryption   *types.EncryptionFailure
		decryption   *types.DecryptionFailure
		limit        *types.LimitExceededException
		internal     *types.InternalServiceError
		apiErr       smithy.APIError
	)
	switch {
	case errors.As(err, &exists):
		return errcode.Wrap(err, errcode.Conflict, "the secret already exists")
	case errors.As(err, &notFound):
		return errcode.Wrap(err, errcode.NotFound, "the secret does not exist")
	case errors.As(err, &invalidParam), errors.As(err, &invalidReq), errors.As(err, &malformed),
		errors.As(err, &precondition), errors.As(err, &publicPolicy):
		errors.As(err, &apiErr)
		return errcode.Wrap(err, errcode.Invalid, "Secrets Manager rejected the request (%s): %s", apiErr.ErrorCode(), apiErr.ErrorMessage())
	case errors.As(err, &encryption), errors.As(err, &decryption):
		e := errcode.Wrap(err, errcode.Invalid, "Secrets Manager could not use the KMS key: check that it exists, is enabled and allows this function")
		e.Field = "kmsKeyId"
		return e
	case errors.As(err, &limit):
		return errcode.Wrap(err, errcode.Throttled, "a Secrets Manager quota was exceeded (LimitExceededException)")
	case errors.As(err, &internal):
		return errcode.Wrap(err, errcode.Upstream, "Secrets Manager failed (InternalServiceError)")
	}
	return awsclient.Classify(err, "Secrets Manager")
}
