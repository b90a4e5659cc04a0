package selfservice

import (
	"context"
	"errors"
	"time"

	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/rotation"
	"github.com/dbcreds/provisioner/shared/secretspec"
	"github.com/dbcreds/provisioner/shared/secretstore"
)

// Description is a secret's metadata, never its value.
type Description struct {
	ARN               string                      `json:"arn"`
	Name              string                      `json:"name"`
	Description       string                      `json:"description,omitempty"`
	KmsKeyID          string                      `json:"kmsKeyId,omitempty"`
	Tags              map[string]string           `json:"tags"`
	ReplicationStatus []secretstore.ReplicaStatus `json:"replicationStatus"`
	CurrentVersionID  string                      `json:"versionId,omitempty"`
	CreatedDate       *time.Time                  `json:"createdDate,omitempty"`
	LastChangedDate   *time.Time                  `json:"lastChangedDate,omitempty"`
	DeletedDate       *time.Time                  `json:"deletedDate,omitempty"`
	Rotation          *rotation.Status            `json:"rotation,omitempty"`
	// DatabaseUser is the user made with the secret, as recorded.
	DatabaseUser *provision.DatabaseUser `json:"databaseUser,omitempty"`
	// Readers are the principals its resource policy lets read it, when the
	// provisioner gave it readers.
	Readers []string `json:"readers,omitempty"`
	// ExpiresAt is when the credential removes itself, when it does.
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// DescribeFor returns the metadata and replication status of a secret inside
// the caller's scope, with the database user recorded for it through via.
func (a *API) DescribeFor(ctx context.Context, c Caller, via, name string) (Description, error) {
	if err := secretspec.ValidateName(name); err != nil {
		return Description{}, err
	}
	if err := a.confine(c, name); err != nil {
		return Description{}, err
	}
	sec, err := a.svc.Store().Describe(ctx, name)
	if errors.Is(err, secretstore.ErrNotFound) {
		return Description{}, &errcode.Error{Code: errcode.NotFound, Field: "name", Message: "no secret named \"" + name + "\""}
	}
	if err != nil {
		return Description{}, err
	}
	d := Description{
		ARN: sec.ARN, Name: sec.Name, Description: sec.Description, KmsKeyID: sec.KmsKeyID, Tags: sec.Tags,
		ReplicationStatus: sec.Replicas, CurrentVersionID: sec.CurrentVersion,
		CreatedDate: sec.CreatedDate, LastChangedDate: sec.LastChangedDate, DeletedDate: sec.DeletedDate,
	}
	if st := rotation.StatusOf(sec); st.Enabled || st.FunctionARN != "" || sec.Pending != "" {
		// A version AWSPENDING past its window blocks the next rotation.
		stuck := false
		if sec.Pending != "" {
			created, err := a.svc.Store().VersionCreated(ctx, sec.ARN, sec.Pending)
			if err != nil {
				return Description{}, err
			}
			stuck = rotation.Stuck(created, st.Rules, time.Now())
		}
		st.Pending = &stuck
		d.Rotation = &st
	}
	if sec.Tags[provision.TagDatabaseUser] == "true" {
		if d.DatabaseUser, err = a.svc.RecordedUser(ctx, via, sec.ARN); err != nil {
			return Description{}, err
		}
	}
	if d.Readers, err = a.svc.Readers(ctx, sec); err != nil {
		return Description{}, err
	}
	if d.ExpiresAt, err = a.svc.ExpiresAt(ctx, via, sec.ARN); err != nil {
		return Description{}, err
	}
	return d, nil
}
