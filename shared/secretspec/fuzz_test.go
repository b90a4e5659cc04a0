package secretspec

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dbcreds/provisioner/shared/errcode"
)

// FuzzNameAndTags: validation accepts exactly what the service allows.
func FuzzNameAndTags(f *testing.F) {
	f.Add("app/orders/db", "team", "orders")
	f.Add("app/db-AbCdEf", "aws:x", "")
	f.Add("app//x", strings.Repeat("k", 128), strings.Repeat("v", 256))
	f.Add("/app/x", "é", "\x00")
	f.Fuzz(func(t *testing.T, name, key, value string) {
		if err := ValidateName(name); err == nil {
			if len(name) == 0 || len(name) > MaxNameLength || hasBadSegment(name) || len(name) >= 7 && name[len(name)-7] == '-' {
				t.Fatalf("accepted name %q", name)
			}
			for i := 0; i < len(name); i++ {
				if !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_+=.@-", rune(name[i])) {
					t.Fatalf("accepted name %q with %q", name, name[i])
				}
			}
		} else if errcode.Of(err) != errcode.Invalid || errcode.FieldOf(err) != "name" {
			t.Fatalf("name %q refused with %v", name, err)
		}
		err := ValidateTags(Tags{{Key: key, Value: value}}, 0, func(string) bool { return false })
		if err == nil {
			n := utf8.RuneCountInString(key)
			if n == 0 || n > MaxTagKeyLength || utf8.RuneCountInString(value) > MaxTagValueLength || strings.HasPrefix(strings.ToLower(key), "aws:") {
				t.Fatalf("accepted tag %q=%q", key, value)
			}
		} else if errcode.Of(err) != errcode.Invalid || !strings.HasPrefix(errcode.FieldOf(err), "tags[0].") {
			t.Fatalf("tag %q=%q refused with %v", key, value, err)
		}
	})
}
