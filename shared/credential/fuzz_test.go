package credential

import (
	"errors"
	"testing"

	"github.com/dbcreds/provisioner/shared/errcode"
)

// FuzzPassword: under any policy, a password that satisfies it, or an
// invalid-input error; never a loop, never a panic.
func FuzzPassword(f *testing.F) {
	f.Add(32, "", uint8(0b1000000))
	f.Add(4, "ABCDEFGHIJKLMNOPQRSTUVWXY0123456789", uint8(0b1000000))
	f.Add(2, "", uint8(0b1000000))
	f.Add(0, "", uint8(0))
	f.Add(4096, "/@\"'\\", uint8(0b1100000))
	f.Add(8, Uppercase+Lowercase+Digits+Punctuation, uint8(0b1000000))
	f.Fuzz(func(t *testing.T, length int, exclude string, flags uint8) {
		if length > MaxLength+10 || length < -10 {
			length %= MaxLength + 10
		}
		p := Policy{
			Length:                  length,
			ExcludeCharacters:       exclude,
			ExcludeNumbers:          flags&1 != 0,
			ExcludePunctuation:      flags&2 != 0,
			ExcludeUppercase:        flags&4 != 0,
			ExcludeLowercase:        flags&8 != 0,
			IncludeSpace:            flags&16 != 0,
			RequireEachIncludedType: flags&64 != 0,
		}
		pw, err := Password(p)
		if err != nil {
			var e *errcode.Error
			if !errors.As(err, &e) || e.Code != errcode.Invalid || e.Field == "" {
				t.Fatalf("policy %+v refused with %v, want an invalid-input error naming a field", p, err)
			}
			return
		}
		if err := satisfies(pw, p); err != nil {
			t.Fatalf("policy %+v: %q: %v", p, pw, err)
		}
	})
}
