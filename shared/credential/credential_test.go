package credential

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/dbcreds/provisioner/shared/errcode"
)

func TestPolicyErrors(t *testing.T) {
	all := DefaultPolicy()
	all.ExcludeCharacters = Uppercase + Lowercase + Digits + Punctuation
	tests := []struct {
		name   string
		policy Policy
		field  string
		rule   string
	}{
		{"length zero", Policy{Length: 0}, "passwordLength", "between 1 and 4096"},
		{"length too long", Policy{Length: 4097}, "passwordLength", "between 1 and 4096"},
		{"negative length", Policy{Length: -1}, "passwordLength", "between 1 and 4096"},
		{"exclude list too long", Policy{Length: 8, ExcludeCharacters: strings.Repeat("a", 4097)}, "excludeCharacters", "at most 4096"},
		{"every class excluded by flag", Policy{Length: 8, ExcludeUppercase: true, ExcludeLowercase: true, ExcludeNumbers: true, ExcludePunctuation: true}, "excludeCharacters", "excludes every character"},
		{"every character excluded by list", all, "excludeCharacters", "excludes every character"},
		{"too short for four required types", Policy{Length: 2, RequireEachIncludedType: true}, "passwordLength", "at least 4"},
		{"too short for three required types", Policy{Length: 2, RequireEachIncludedType: true, ExcludePunctuation: true}, "passwordLength", "at least 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Password(tt.policy)
			var e *errcode.Error
			if !errors.As(err, &e) || e.Code != errcode.Invalid || e.Field != tt.field || !strings.Contains(e.Message, tt.rule) {
				t.Fatalf("got %v (%#v), want invalid %s error containing %q", err, e, tt.field, tt.rule)
			}
		})
	}
}

func TestPolicyEdgesThatWork(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		want   string // every character must come from this set
	}{
		{"length one without required types", Policy{Length: 1}, Uppercase + Lowercase + Digits + Punctuation},
		{"length equal to required types", Policy{Length: 4, RequireEachIncludedType: true}, Uppercase + Lowercase + Digits + Punctuation},
		{"maximum length", Policy{Length: 4096, RequireEachIncludedType: true}, Uppercase + Lowercase + Digits + Punctuation},
		{"only digits", Policy{Length: 12, ExcludeUppercase: true, ExcludeLowercase: true, ExcludePunctuation: true, RequireEachIncludedType: true}, Digits},
		{"one character left", Policy{Length: 5, ExcludeUppercase: true, ExcludeLowercase: true, ExcludePunctuation: true, ExcludeCharacters: "012345678", RequireEachIncludedType: true}, "9"},
		// A class emptied by excludeCharacters is no longer an included type,
		// so it is not required.
		{"class emptied by the exclude list", Policy{Length: 3, ExcludeCharacters: Digits, ExcludePunctuation: true, RequireEachIncludedType: true}, Uppercase + Lowercase},
		{"space only", Policy{Length: 3, IncludeSpace: true, ExcludeUppercase: true, ExcludeLowercase: true, ExcludeNumbers: true, ExcludePunctuation: true, RequireEachIncludedType: true}, " "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Password(tt.policy)
			if err != nil {
				t.Fatal(err)
			}
			if len(p) != tt.policy.Length {
				t.Fatalf("length %d, want %d", len(p), tt.policy.Length)
			}
			if strings.Trim(p, tt.want) != "" {
				t.Fatalf("%q holds characters outside %q", p, tt.want)
			}
		})
	}
}

// TestPasswordsHoldPolicy checks many passwords under many policies: right
// length, nothing excluded, one of each required type.
func TestPasswordsHoldPolicy(t *testing.T) {
	policies := []Policy{
		DefaultPolicy(),
		{Length: 8, RequireEachIncludedType: true, ExcludeCharacters: `/@"'\:;`},
		{Length: 30, RequireEachIncludedType: true, IncludeSpace: true},
		{Length: 16, RequireEachIncludedType: true, ExcludePunctuation: true},
		{Length: 4, RequireEachIncludedType: true, ExcludeCharacters: "ABCDEFGHIJKLMNOPQRSTUVWXY0123456789"},
		{Length: 20, ExcludeLowercase: true, ExcludeNumbers: true},
	}
	for _, p := range policies {
		for i := 0; i < 2000; i++ {
			pw, err := Password(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := satisfies(pw, p); err != nil {
				t.Fatalf("policy %+v: %q: %v", p, pw, err)
			}
		}
	}
}

// satisfies is the policy check the tests use, written independently of the
// generator.
func satisfies(pw string, p Policy) error {
	if len(pw) != p.Length {
		return errors.New("wrong length")
	}
	if strings.ContainsAny(pw, p.ExcludeCharacters) {
		return errors.New("holds an excluded character")
	}
	for _, c := range []struct {
		set      string
		excluded bool
	}{{Uppercase, p.ExcludeUppercase}, {Lowercase, p.ExcludeLowercase}, {Digits, p.ExcludeNumbers}, {Punctuation, p.ExcludePunctuation}, {Space, !p.IncludeSpace}} {
		if c.excluded && strings.ContainsAny(pw, c.set) {
			return errors.New("holds a character of an excluded class " + c.set)
		}
		if !c.excluded && c.set != Space && p.RequireEachIncludedType && p.Includes(c.set) && !strings.ContainsAny(pw, c.set) {
			return errors.New("misses a required class " + c.set)
		}
	}
	return nil
}

// TestSamplerIsExactlyUniform goes through every random value: for every
// n, each result in [0, n) comes from the same number of byte values (and
// of 16-bit values), and exactly the remainder is rejected. A modulo, or a
// wrong rejection bound, fails here.
func TestSamplerIsExactlyUniform(t *testing.T) {
	for n := 1; n <= 256; n++ {
		counts := make([]int, n)
		rejected := 0
		for x := 0; x < 256; x++ {
			if v, ok := accept8(byte(x), n); ok {
				counts[v]++
			} else {
				rejected++
			}
		}
		for v, c := range counts {
			if c != 256/n {
				t.Fatalf("n=%d: %d comes from %d bytes, want %d", n, v, c, 256/n)
			}
		}
		if rejected != 256%n {
			t.Fatalf("n=%d: %d bytes rejected, want %d", n, rejected, 256%n)
		}
	}
	for _, n := range []int{257, 1000, 4095, 4096, 65536} {
		counts := make([]int, n)
		for x := 0; x < 65536; x++ {
			if v, ok := accept16(uint16(x), n); ok {
				counts[v]++
			}
		}
		for v, c := range counts {
			if c != 65536/n {
				t.Fatalf("n=%d: %d comes from %d values, want %d", n, v, c, 65536/n)
			}
		}
	}
}

// TestFallbackStillSatisfies: a policy that whole draws rarely satisfy (one
// digit and one punctuation character in a large alphabet, four characters)
// ends in the fallback, which must hold the policy too.
func TestFallbackStillSatisfies(t *testing.T) {
	p := Policy{Length: 4, RequireEachIncludedType: true, ExcludeCharacters: "123456789" + strings.Trim(Punctuation, "!")}
	for i := 0; i < 2000; i++ {
		pw, err := Password(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := satisfies(pw, p); err != nil || !strings.ContainsAny(pw, "0") || !strings.ContainsAny(pw, "!") {
			t.Fatalf("%q: %v", pw, err)
		}
	}
}

// TestDistribution draws from a seeded source and checks each character of
// the default alphabet comes up about equally often (chi-square, 93 degrees
// of freedom; the 99.99th percentile is about 150). The source is fixed, so
// the result is too.
func TestDistribution(t *testing.T) {
	g := NewGenerator(rand.NewChaCha8([32]byte{1, 2, 3}))
	p := Policy{Length: 4096}
	counts := map[rune]int{}
	total := 0
	for i := 0; i < 50; i++ {
		pw, err := g.Password(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range pw {
			counts[r]++
			total++
		}
	}
	alphabet := Uppercase + Lowercase + Digits + Punctuation
	if len(counts) != len(alphabet) {
		t.Fatalf("saw %d distinct characters, want %d", len(counts), len(alphabet))
	}
	expected := float64(total) / float64(len(alphabet))
	chi := 0.0
	for _, r := range alphabet {
		d := float64(counts[r]) - expected
		chi += d * d / expected
	}
	if chi > 150 {
		t.Fatalf("chi-square %.1f over 93 degrees of freedom: the draw is biased", chi)
	}
}

func TestUsername(t *testing.T) {
	for i := 0; i < 500; i++ {
		u, err := NewGenerator(rand.NewChaCha8([32]byte{byte(i)})).Username(10)
		if err != nil {
			t.Fatal(err)
		}
		if len(u) != 10 || !strings.Contains(Lowercase, u[:1]) || strings.Trim(u, Lowercase+Digits) != "" {
			t.Fatalf("username %q: want 10 lowercase letters and digits starting with a letter", u)
		}
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("entropy gone") }

func TestRandomSourceFailure(t *testing.T) {
	_, err := NewGenerator(failingReader{}).Password(DefaultPolicy())
	if errcode.Of(err) != errcode.Internal {
		t.Fatalf("got %v, want an internal error", err)
	}
	if strings.Contains(errcode.Message(err), "entropy") {
		t.Fatalf("the cause leaked into the caller's message: %q", errcode.Message(err))
	}
}

// TestPolicyCacheIsCapped: requests choose policies, so however many
// distinct ones arrive, the cache keeps at most maxCached, and a policy
// past the cap still gives passwords.
func TestPolicyCacheIsCapped(t *testing.T) {
	for i := range 3 * maxCached {
		p := DefaultPolicy()
		p.ExcludeCharacters = strings.Repeat("x", i%200) + string(rune('A'+i%26))
		p.Length = 20 + i%50
		if _, err := Password(p); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	alphabets.Range(func(any, any) bool { n++; return true })
	if n > maxCached || cached.Load() > maxCached {
		t.Fatalf("%d policies cached (counted %d), at most %d", n, cached.Load(), maxCached)
	}
}

// TestBits: length times the bits of one allowed character.
func TestBits(t *testing.T) {
	p := Policy{Length: 16, ExcludeUppercase: true, ExcludeLowercase: true, ExcludePunctuation: true}
	if b, err := p.Bits(); err != nil || b < 53 || b > 53.2 {
		t.Fatalf("16 digits: %v bits, %v", b, err)
	}
}
