// Package sts is the part of AWS STS the functions use
// (GetCallerIdentity), with the SDK's method signature but not its client
// package: see awslite.
package sts

import (
	"context"

	"github.com/dbcreds/provisioner/shared/awslite"
)

// Options are the client's settings.
type Options = awslite.Options

// Client calls STS at its Regional endpoint, as the SDK does.
type Client struct{ c *awslite.Client }

// New builds a client; it calls nothing.
func New(o Options) *Client {
	return &Client{awslite.New(awslite.Service{ID: "STS", SigningName: "sts", Endpoint: "sts"}, o)}
}

type GetCallerIdentityInput struct{}

type GetCallerIdentityOutput struct {
	Account *string `xml:"Account"`
	Arn     *string `xml:"Arn"`
	UserId  *string `xml:"UserId"`
}

// GetCallerIdentity names the credentials' principal.
func (c *Client) GetCallerIdentity(ctx context.Context, params *GetCallerIdentityInput, optFns ...func(*Options)) (*GetCallerIdentityOutput, error) {
	var out GetCallerIdentityOutput
	if err := c.c.Query(ctx, "GetCallerIdentity", "2011-06-15", nil, &out, optFns...); err != nil {
		return nil, err
	}
	return &out, nil
}
