// Package credential generates passwords with the semantics of Secrets
// Manager GetRandomPassword, and usernames, locally from a cryptographic
// random source: no network round trip, no modulo bias, bounded time.
package credential

import (
	"crypto/rand"
	"io"
	"strings"

	"github.com/dbcreds/provisioner/shared/errcode"
)

// Character classes, as GetRandomPassword defines them.
const (
	Uppercase   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	Lowercase   = "abcdefghijklmnopqrstuvwxyz"
	Digits      = "0123456789"
	Punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
	Space       = " "
)

// Limits of GetRandomPassword.
const (
	DefaultLength   = 32
	MaxLength       = 4096
	MaxExcludeChars = 4096
)

// Policy is a GetRandomPassword request with its defaults applied. The error
// messages name the request fields of the same meaning.
type Policy struct {
	Length                  int
	ExcludeCharacters       string
	ExcludeNumbers          bool
	ExcludePunctuation      bool
	ExcludeUppercase        bool
	ExcludeLowercase        bool
	IncludeSpace            bool
	RequireEachIncludedType bool
}

// DefaultPolicy is GetRandomPassword with no parameters.
func DefaultPolicy() Policy {
	return Policy{Length: DefaultLength, RequireEachIncludedType: true}
}

// Includes reports whether the policy leaves at least one character of class
// (one of the class constants) to draw from.
func (p Policy) Includes(class string) bool {
	switch class {
	case Uppercase:
		if p.ExcludeUppercase {
			return false
		}
	case Lowercase:
		if p.ExcludeLowercase {
			return false
		}
	case Digits:
		if p.ExcludeNumbers {
			return false
		}
	case Punctuation:
		if p.ExcludePunctuation {
			return false
		}
	case Space:
		if !p.IncludeSpace {
			return false
		}
	}
	return strings.Trim(class, p.ExcludeCharacters) != ""
}

// alphabet is a checked policy: the characters to draw from and the classes
// of which at least one character must appear.
type alphabet struct {
	all      []byte
	required [][]byte
}

// Check reports whether a password can be generated under p, naming the field
// and the rule when it cannot.
func (p Policy) Check() error {
	_, err := p.alphabet()
	return err
}

func (p Policy) alphabet() (alphabet, error) {
	if p.Length < 1 || p.Length > MaxLength {
		return alphabet{}, errcode.Invalidf("passwordLength", "must be between 1 and %d, got %d", MaxLength, p.Length)
	}
	if n := len([]rune(p.ExcludeCharacters)); n > MaxExcludeChars {
		return alphabet{}, errcode.Invalidf("excludeCharacters", "must be at most %d characters, got %d", MaxExcludeChars, n)
	}
	var excluded [128]bool
	for _, r := range p.ExcludeCharacters {
		if r < 128 {
			excluded[r] = true
		}
	}
	var a alphabet
	for _, class := range []string{Uppercase, Lowercase, Digits, Punctuation, Space} {
		if !p.Includes(class) {
			continue
		}
		var kept []byte
		for i := 0; i < len(class); i++ {
			if !excluded[class[i]] {
				kept = append(kept, class[i])
			}
		}
		a.all = append(a.all, kept...)
		// Space is never a required type: GetRandomPassword requires "one upper
		// and lowercase letter, one number, and one punctuation".
		if p.RequireEachIncludedType && class != Space {
			a.required = append(a.required, kept)
		}
	}
	if len(a.all) == 0 {
		return alphabet{}, errcode.Invalidf("excludeCharacters", "the password policy excludes every character: nothing is left to build a password from")
	}
	if len(a.required) > p.Length {
		return alphabet{}, errcode.Invalidf("passwordLength",
			"must be at least %d to hold one character of each included type (requireEachIncludedType is true), got %d",
			len(a.required), p.Length)
	}
	return a, nil
}

// Generator draws credentials from a random source. A Generator is not safe
// for concurrent use; the package-level functions are.
type Generator struct {
	src io.Reader
	buf [64]byte
	pos int
}

// NewGenerator returns a generator reading from src, which must be a
// cryptographic random source for passwords.
func NewGenerator(src io.Reader) *Generator {
	return &Generator{src: src, pos: len(Generator{}.buf)}
}

// Password returns a new password under p from crypto/rand.
func Password(p Policy) (string, error) {
	return NewGenerator(rand.Reader).Password(p)
}

// Password returns a password satisfying p: one character of each required
// class at a random place, the rest drawn from the whole alphabet. This takes
// the same time whatever the policy, so no policy can make it loop.
func (g *Generator) Password(p Policy) (string, error) {
	a, err := p.alphabet()
	if err != nil {
		return "", err
	}
	out := make([]byte, p.Length)
	for i, class := range a.required {
		c, err := g.pick(class)
		if err != nil {
			return "", err
		}
		out[i] = c
	}
	for i := len(a.required); i < len(out); i++ {
		c, err := g.pick(a.all)
		if err != nil {
			return "", err
		}
		out[i] = c
	}
	if err := g.shuffle(out); err != nil {
		return "", err
	}
	return string(out), nil
}

// Username returns a username of length n: a lowercase letter, then
// lowercase letters and digits, safe unquoted in every supported engine.
func (g *Generator) Username(n int) (string, error) {
	if n < 1 {
		return "", errcode.New(errcode.Internal, "username length %d", n)
	}
	out := make([]byte, n)
	for i := range out {
		set := Lowercase + Digits
		if i == 0 {
			set = Lowercase
		}
		c, err := g.pick([]byte(set))
		if err != nil {
			return "", err
		}
		out[i] = c
	}
	return string(out), nil
}

func (g *Generator) pick(set []byte) (byte, error) {
	i, err := g.uniform(len(set))
	if err != nil {
		return 0, err
	}
	return set[i], nil
}

// shuffle is Fisher-Yates with unbiased indices.
func (g *Generator) shuffle(b []byte) error {
	for i := len(b) - 1; i > 0; i-- {
		j, err := g.uniform(i + 1)
		if err != nil {
			return err
		}
		b[i], b[j] = b[j], b[i]
	}
	return nil
}

// uniform returns an integer in [0, n) for 1 <= n <= 65536, rejecting the
// random values that would make some results likelier than others.
func (g *Generator) uniform(n int) (int, error) {
	if n <= 256 {
		limit := 256 - 256%n
		for {
			b, err := g.byte()
			if err != nil {
				return 0, err
			}
			if int(b) < limit {
				return int(b) % n, nil
			}
		}
	}
	limit := 65536 - 65536%n
	for {
		hi, err := g.byte()
		if err != nil {
			return 0, err
		}
		lo, err := g.byte()
		if err != nil {
			return 0, err
		}
		if v := int(hi)<<8 | int(lo); v < limit {
			return v % n, nil
		}
	}
}

func (g *Generator) byte() (byte, error) {
	if g.pos == len(g.buf) {
		if _, err := io.ReadFull(g.src, g.buf[:]); err != nil {
			return 0, errcode.Wrap(err, errcode.Internal, "random source failed")
		}
		g.pos = 0
	}
	b := g.buf[g.pos]
	g.pos++
	return b, nil
}
