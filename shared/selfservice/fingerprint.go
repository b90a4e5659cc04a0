package selfservice

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"

	"github.com/dbcreds/provisioner/shared/provision"
	"github.com/dbcreds/provisioner/shared/secretspec"
)

// Fingerprint identifies a request by meaning, for Idempotency-Key
// purposes: bodies that decode to the same request ("Name" or "name", other
// spacing, member order, tags as a list or an object, in any order) have
// the same fingerprint.
func Fingerprint(r provision.Request) string {
	r.Provenance = provision.Provenance{}
	r.Tags = append(secretspec.Tags(nil), r.Tags...)
	sort.Slice(r.Tags, func(i, j int) bool { return r.Tags[i].Key < r.Tags[j].Key })
	if r.ExtraFields != nil {
		extra := make(map[string]json.RawMessage, len(r.ExtraFields))
		for k, v := range r.ExtraFields {
			var value any
			if json.Unmarshal(v, &value) == nil {
				v, _ = json.Marshal(value) // maps marshal sorted
			}
			extra[k] = v
		}
		r.ExtraFields = extra
	}
	canonical, _ := json.Marshal(r)
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:16])
}
