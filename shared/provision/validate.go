package provision

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dbcreds/provisioner/shared/awsname"
	"github.com/dbcreds/provisioner/shared/errcode"
)

// Limits of the real CreateSecret API. moto enforces few of them, so we do,
// before any call: a request that would fail in AWS fails the same way here.
const (
	MaxNameLength        = 512
	MaxDescriptionLength = 2048
	MaxKmsKeyIDLength    = 2048
	MaxSecretBytes       = 65536
	MaxTags              = 50
	MaxTagKeyLength      = 127
	MaxTagValueLength    = 255
)

// validateName checks a secret name against the CreateSecret rules.
func validateName(name string) error {
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

// validateTags checks the caller's tags, leaving room for the reserved
// provenance tags the provisioner adds.
func hasBadSegment(name string) bool {
	for _, segment := range strings.Split(strings.TrimPrefix(name, "/"), "/") {
		if segment == "" || segment == "." || segment == ".." {
			return true
		}
	}
	return false
}

func validateTags(tags Tags, reserved int) error {
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
		if isReservedTag(t.Key) {
			return errcode.Invalidf(indexed("tags", i, "key"), "%s is set by the provisioner itself", errcode.Quote(t.Key))
		}
		if seen[t.Key] {
			return errcode.Invalidf(indexed("tags", i, "key"), "%s is given twice", errcode.Quote(t.Key))
		}
		seen[t.Key] = true
	}
	return nil
}

// isReservedTag reports whether key is one of the provisioner's own tags,
// in any letter case: "Provisioned-By" beside "provisioned-by" would confuse
// every reader of the provenance, human or IAM condition.
func isReservedTag(key string) bool {
	return strings.EqualFold(key, TagProvisionedBy) || strings.EqualFold(key, TagProvisionedVia) || strings.EqualFold(key, TagIdempotencyKey) || strings.EqualFold(key, TagDatabaseUser)
}

func validateReplicas(replicas Replicas, primary string) error {
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
		if err := validateKMSKey(indexed("replicaRegions", i, "kmsKeyId"), r.KmsKeyID); err != nil {
			return err
		}
		seen[r.Region] = true
	}
	return nil
}

// validateKMSKey checks a KmsKeyId against the forms KMS issues; empty
// means the AWS managed key.
func validateKMSKey(field, id string) error {
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
