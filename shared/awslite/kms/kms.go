// Package kms is the part of AWS KMS the functions use (DescribeKey,
// CreateGrant, ListGrants, RetireGrant), with the SDK's method signatures
// and types (service/kms/types) but not its client package: see awslite.
package kms

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/dbcreds/provisioner/shared/awslite"
)

// Options are the client's settings; a call's optFns may change them (its
// Region, for a replica's key).
type Options = awslite.Options

// Client calls KMS.
type Client struct{ c *awslite.Client }

// New builds a client; it calls nothing.
func New(o Options) *Client {
	return &Client{awslite.New(awslite.Service{ID: "KMS", SigningName: "kms", Endpoint: "kms", Errors: typedError}, o)}
}

const (
	version = "1.1"
	prefix  = "TrentService."
)

type DescribeKeyInput struct {
	KeyId       *string  `json:",omitempty"`
	GrantTokens []string `json:",omitempty"`
}

type DescribeKeyOutput struct {
	KeyMetadata *types.KeyMetadata
}

// DescribeKey describes a key.
func (c *Client) DescribeKey(ctx context.Context, params *DescribeKeyInput, optFns ...func(*Options)) (*DescribeKeyOutput, error) {
	var out struct {
		KeyMetadata *struct {
			types.KeyMetadata
			// Timestamps are seconds since the epoch on the wire.
			CreationDate, DeletionDate, ValidTo *float64
		}
	}
	if err := c.c.JSON(ctx, version, prefix+"DescribeKey", orEmpty(params), &out, optFns...); err != nil {
		return nil, err
	}
	if out.KeyMetadata == nil {
		return &DescribeKeyOutput{}, nil
	}
	m := out.KeyMetadata.KeyMetadata
	m.CreationDate, m.DeletionDate, m.ValidTo = epoch(out.KeyMetadata.CreationDate), epoch(out.KeyMetadata.DeletionDate), epoch(out.KeyMetadata.ValidTo)
	return &DescribeKeyOutput{KeyMetadata: &m}, nil
}

type CreateGrantInput struct {
	KeyId             *string
	GranteePrincipal  *string
	Operations        []types.GrantOperation
	Constraints       *types.GrantConstraints
	GrantTokens       []string
	Name              *string
	RetiringPrincipal *string
	DryRun            *bool
}

type CreateGrantOutput struct {
	GrantId    *string
	GrantToken *string
}

// constraints is GrantConstraints as sent: an empty map is not sent.
type constraints struct {
	EncryptionContextEquals map[string]string `json:",omitempty"`
	EncryptionContextSubset map[string]string `json:",omitempty"`
}

// CreateGrant makes a grant.
func (c *Client) CreateGrant(ctx context.Context, params *CreateGrantInput, optFns ...func(*Options)) (*CreateGrantOutput, error) {
	if params == nil {
		params = &CreateGrantInput{}
	}
	in := struct {
		KeyId             *string                `json:",omitempty"`
		GranteePrincipal  *string                `json:",omitempty"`
		Operations        []types.GrantOperation `json:",omitempty"`
		Constraints       *constraints           `json:",omitempty"`
		GrantTokens       []string               `json:",omitempty"`
		Name              *string                `json:",omitempty"`
		RetiringPrincipal *string                `json:",omitempty"`
		DryRun            *bool                  `json:",omitempty"`
	}{params.KeyId, params.GranteePrincipal, params.Operations, nil, params.GrantTokens, params.Name, params.RetiringPrincipal, params.DryRun}
	if k := params.Constraints; k != nil {
		in.Constraints = &constraints{k.EncryptionContextEquals, k.EncryptionContextSubset}
	}
	var out CreateGrantOutput
	if err := c.c.JSON(ctx, version, prefix+"CreateGrant", in, &out, optFns...); err != nil {
		return nil, err
	}
	return &out, nil
}

type ListGrantsInput struct {
	KeyId            *string `json:",omitempty"`
	GrantId          *string `json:",omitempty"`
	GranteePrincipal *string `json:",omitempty"`
	Limit            *int32  `json:",omitempty"`
	Marker           *string `json:",omitempty"`
}

type ListGrantsOutput struct {
	Grants     []types.GrantListEntry
	NextMarker *string
	Truncated  bool
}

// ListGrants lists a key's grants, a page at a time.
func (c *Client) ListGrants(ctx context.Context, params *ListGrantsInput, optFns ...func(*Options)) (*ListGrantsOutput, error) {
	var out struct {
		Grants []struct {
			types.GrantListEntry
			CreationDate *float64
		}
		NextMarker *string
		Truncated  bool
	}
	if err := c.c.JSON(ctx, version, prefix+"ListGrants", orEmpty(params), &out, optFns...); err != nil {
		return nil, err
	}
	grants := make([]types.GrantListEntry, len(out.Grants))
	for i, g := range out.Grants {
		grants[i] = g.GrantListEntry
		grants[i].CreationDate = epoch(g.CreationDate)
	}
	return &ListGrantsOutput{Grants: grants, NextMarker: out.NextMarker, Truncated: out.Truncated}, nil
}

type RetireGrantInput struct {
	KeyId      *string `json:",omitempty"`
	GrantId    *string `json:",omitempty"`
	GrantToken *string `json:",omitempty"`
	DryRun     *bool   `json:",omitempty"`
}

type RetireGrantOutput struct{}

// RetireGrant retires a grant.
func (c *Client) RetireGrant(ctx context.Context, params *RetireGrantInput, optFns ...func(*Options)) (*RetireGrantOutput, error) {
	if err := c.c.JSON(ctx, version, prefix+"RetireGrant", orEmpty(params), &struct{}{}, optFns...); err != nil {
		return nil, err
	}
	return &RetireGrantOutput{}, nil
}

func orEmpty[T any](p *T) *T {
	if p == nil {
		return new(T)
	}
	return p
}

func epoch(seconds *float64) *time.Time {
	if seconds == nil {
		return nil
	}
	t := time.Unix(0, int64(*seconds*float64(time.Second))).UTC()
	return &t
}

// typedError is the SDK's error type for the codes callers tell apart,
// matched as the SDK matches them, case aside.
func typedError(code, message string, _ []byte) error {
	m := aws.String(message)
	switch strings.ToLower(code) {
	case "notfoundexception":
		return &types.NotFoundException{Message: m}
	case "disabledexception":
		return &types.DisabledException{Message: m}
	case "kmsinvalidstateexception":
		return &types.KMSInvalidStateException{Message: m}
	case "invalidarnexception":
		return &types.InvalidArnException{Message: m}
	case "limitexceededexception":
		return &types.LimitExceededException{Message: m}
	case "invalidgrantidexception":
		return &types.InvalidGrantIdException{Message: m}
	case "invalidgranttokenexception":
		return &types.InvalidGrantTokenException{Message: m}
	case "invalidmarkerexception":
		return &types.InvalidMarkerException{Message: m}
	case "dependencytimeoutexception":
		return &types.DependencyTimeoutException{Message: m}
	case "kmsinternalexception":
		return &types.KMSInternalException{Message: m}
	case "dryrunoperationexception":
		return &types.DryRunOperationException{Message: m}
	}
	return nil
}
