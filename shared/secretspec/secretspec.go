// Package secretspec holds what Secrets Manager's CreateSecret accepts for a
// secret's name, tags, replica Regions and KMS keys: their types as a
// request gives them, their limits, and the SDK forms. moto enforces few of
// the real service's rules, so the provisioner checks them here before any
// call: a request that would fail in AWS fails the same way locally.
//
// It imports nothing of the provisioner's but errcode, awsname and props.
package secretspec

import (
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dbcreds/provisioner/shared/awsname"
	"github.com/dbcreds/provisioner/shared/errcode"
	"github.com/dbcreds/provisioner/shared/props"
)

// Limits of the real CreateSecret API.
const (
	MaxNameLength        = 512
	MaxDescriptionLength = 2048
	MaxKmsKeyIDLength    = 2048
	MaxTags              = 50
	MaxTagKeyLength      = 127
	MaxTagValueLength    = 255
)

// Tag is a secret tag.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Tags accepts a list of {key, value} or an object of key to value.
type Tags []Tag

// Replica is a Region to replicate the secret to, with its KMS key.
type Replica struct {
	Region   string `json:"region"`
	KmsKeyID string `json:"kmsKeyId"`
}

// Replicas accepts a list of {region, kmsKeyId} or of plain Region names.
type Replicas []Replica

// DecodeJSON accepts a list of {key, value} or an object of key to value.
func (t *Tags) DecodeJSON(raw []byte, field string) error {
	if raw[0] != '{' {
		return props.DecodeList(raw, field, "a list of {key, value} or an object of key to value", func(item []byte, path string) error {
			var tag Tag
			if err := props.DecodeStruct(&tag, item, path); err != nil {
				return err
			}
			*t = append(*t, tag)
			return nil
		})
	}
	*t = Tags{}
	err := props.Members(raw, func(k string, value []byte) error {
		var v string // null is an empty value, as in the list form
		if string(value) != "null" {
			if err := props.DecodeString(&v, value, field+"."+errcode.Clip(k)); err != nil {
				return err
			}
		}
		*t = append(*t, Tag{Key: k, Value: v})
		return nil
	})
	sort.Slice(*t, func(i, j int) bool { return (*t)[i].Key < (*t)[j].Key })
	return err
}

// DecodeJSON accepts a list of Region names or of {region, kmsKeyId}.
func (rs *Replicas) DecodeJSON(raw []byte, field string) error {
	*rs = Replicas{}
	return props.DecodeList(raw, field, "a list of Region names or of {region, kmsKeyId}", func(item []byte, path string) error {
		var r Replica
		if item[0] == '"' {
			if err := props.DecodeString(&r.Region, item, path); err != nil {
				return err
			}
		} else if err := props.DecodeStruct(&r, item, path); err != nil {
			return err
		}
		*rs = append(*rs, r)
		return nil
	})
}

// ValidateName checks a secret name against the CreateSecret rules.
func ValidateName(name string) error {
	switch {
	case name == "":
		return errcode.Invalidf("name", "is required")
	case len(name) > MaxNameLength:
		return errcode.Invalidf("name", "must be at most %d characters, got %d", MaxNameLength, len(name))
	case !awsname.IsSecretName(name):
		return errcode.Invalidf("name", "may hold only ASCII letters, digits and /_+=.@-")
	case hasBadSegment(name):
		// Names are flat in Secrets Manager, but tools that map them to paths
		// (and people reading them) would take these for traversal.
		return errcode.Invalidf("name", "must not hold empty, \".\" or \"..\" path segments (like \"//\" or \"/../\")")
	case len(name) >= 7 && name[len(name)-7] == '-':
		// Secrets Manager appends "-" and six characters to make the ARN, so
		// such a name would be mistaken for a partial ARN.
		return errcode.Invalidf("name", "must not end with a hyphen followed by six characters (%q looks like an ARN suffix)", name[len(name)-7:])
	}
	return nil
}

// hasBadSegment reports whether name holds an empty, "." or ".." path
// segment.
func hasBadSegment(name string) bool {
	for _, segment := range strings.Split(strings.TrimPrefix(name, "/"), "/") {
		if segment == "" || segment == "." || segment == ".." {
			return true
		}
	}
	return false
}

// ValidateDescription checks a secret's description.
func ValidateDescription(description string) error {
	if n := utf8.RuneCountInString(description); n > MaxDescriptionLength {
		return errcode.Invalidf("description", "must be at most %d characters, got %d", MaxDescriptionLength, n)
	}
	return nil
}

// ValidateTags checks a caller's tags, leaving room for the reserved tags
// the provisioner adds itself; isReserved names those keys, which a caller
// may not set.
func ValidateTags(tags Tags, reserved int, isReserved func(key string) bool) error {
	if max := MaxTags - reserved; len(tags) > max {
		if reserved > 0 {
			return errcode.Invalidf("tags", "at most %d tags, got %d (%d of Secrets Manager's %d are the provenance tags this provisioner adds)", max, len(tags), reserved, MaxTags)
		}
		return errcode.Invalidf("tags", "at most %d tags, got %d", max, len(tags))
	}
	seen := make(map[string]bool, len(tags))
	for i, t := range tags {
		switch n := utf8.RuneCountInString(t.Key); {
		case n == 0:
			return errcode.Invalidf(indexed("tags", i, "key"), "is required")
		case n > MaxTagKeyLength:
			return errcode.Invalidf(indexed("tags", i, "key"), "must be at most %d characters, got %d", MaxTagKeyLength, n)
		}
		if n := utf8.RuneCountInString(t.Value); n > MaxTagValueLength {
			return errcode.Invalidf(indexed("tags", i, "value"), "must be at most %d characters, got %d", MaxTagValueLength, n)
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return errcode.Invalidf(indexed("tags", i, "key"), "must not start with \"aws:\", which AWS reserves")
		}
		if isReserved(t.Key) {
			return errcode.Invalidf(indexed("tags", i, "key"), "%s is set by the provisioner itself", errcode.Quote(t.Key))
		}
		if seen[t.Key] {
			return errcode.Invalidf(indexed("tags", i, "key"), "%s is given twice", errcode.Quote(t.Key))
		}
		seen[t.Key] = true
	}
	return nil
}

// ValidateReplicas checks replica Regions for a secret whose primary
// Region is primary.
func ValidateReplicas(replicas Replicas, primary string) error {
	seen := make(map[string]bool, len(replicas))
	for i, r := range replicas {
		field := indexed("replicaRegions", i, "region")
		switch {
		case !awsname.IsRegion(r.Region):
			return errcode.Invalidf(field, "%s is not a Region name (like eu-west-1)", errcode.Quote(r.Region))
		case r.Region == primary:
			return errcode.Invalidf(field, "%s is the primary Region, where the secret itself is created", r.Region)
		case seen[r.Region]:
			return errcode.Invalidf(field, "%s is given twice", errcode.Clip(r.Region))
		}
		if err := ValidateKMSKey(indexed("replicaRegions", i, "kmsKeyId"), r.KmsKeyID); err != nil {
			return err
		}
		seen[r.Region] = true
	}
	return nil
}

// ValidateKMSKey checks a KmsKeyId against the forms KMS issues; empty
// means the AWS managed key.
func ValidateKMSKey(field, id string) error {
	switch {
	case id == "":
		return nil
	case len(id) > MaxKmsKeyIDLength:
		return errcode.Invalidf(field, "must be at most %d characters, got %d", MaxKmsKeyIDLength, len(id))
	case !awsname.IsKMSKeyID(id):
		return errcode.Invalidf(field, "must be a KMS key id (a UUID, or mrk-... for a multi-Region key), a key ARN, an alias name (alias/NAME) or an alias ARN")
	}
	return nil
}

func indexed(list string, i int, field string) string {
	return list + "[" + strconv.Itoa(i) + "]." + field
}

// SDK are the tags as the SDK takes them.
func (t Tags) SDK() []types.Tag {
	var out []types.Tag
	for _, tag := range t {
		out = append(out, types.Tag{Key: aws.String(tag.Key), Value: aws.String(tag.Value)})
	}
	return out
}

// SDK are the replica Regions as the SDK takes them.
func (rs Replicas) SDK() []types.ReplicaRegionType {
	var out []types.ReplicaRegionType
	for _, rep := range rs {
		rt := types.ReplicaRegionType{Region: aws.String(rep.Region)}
		if rep.KmsKeyID != "" {
			rt.KmsKeyId = aws.String(rep.KmsKeyID)
		}
		out = append(out, rt)
	}
	return out
}
