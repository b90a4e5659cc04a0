// Package credential generates passwords with the semantics of Secrets
// Manager GetRandomPassword, and usernames, locally from a cryptographic
// random source: no network round trip, no modulo bias, bounded time.
//
// It imports nothing of the provisioner's but errcode.
package credential

import (
	"crypto/rand"
	"io"
	"math"
	"strings"
	"sync"
	"sync/atomic"

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
	classOf  [256]uint8 // bit i set: the byte belongs to required class i
	want     uint8      // every required class's bit
	reject   uint32     // 256 % len(all): the low bytes accept8 rejects
}

// Check reports whether a password can be generated under p, naming the field
// and the rule when it cannot.
func (p Policy) Check() error {
	_, err := p.alphabet()
	return err
}

// alphabets caches checked policies: a deployment uses a handful, and
// building one is most of a password's cost. Requests choose policies, so
// the cache is capped: past maxCached, a policy is built each time, and no
// caller can grow a warm function's memory by sending new ones.
var (
	alphabets sync.Map // Policy -> *alphabet
	cached    atomic.Int64
)

const maxCached = 64

func (p Policy) alphabet() (*alphabet, error) {
	if a, ok := alphabets.Load(p); ok {
		return a.(*alphabet), nil
	}
	a, err := p.build()
	if err != nil {
		return nil, err
	}
	if len(p.ExcludeCharacters) <= 256 && cached.Load() < maxCached { // keep odd, huge policies out of the cache
		if _, loaded := alphabets.LoadOrStore(p, a); !loaded {
			cached.Add(1)
		}
	}
	return a, nil
}

// Bits is the entropy of a password under p: its length times the bits of
// one character drawn from the characters p allows.
func (p Policy) Bits() (float64, error) {
	a, err := p.alphabet()
	if err != nil {
		return 0, err
	}
	return float64(p.Length) * math.Log2(float64(len(a.all))), nil
}

func (p Policy) build() (*alphabet, error) {
	if p.Length < 1 || p.Length > MaxLength {
		return nil, errcode.Invalidf("passwordLength", "must be between 1 and %d, got %d", MaxLength, p.Length)
	}
	if n := len([]rune(p.ExcludeCharacters)); n > MaxExcludeChars {
		return nil, errcode.Invalidf("excludeCharacters", "must be at most %d characters, got %d", MaxExcludeChars, n)
	}
	var excluded [128]bool
	for _, r := range p.ExcludeCharacters {
		if r < 128 {
			excluded[r] = true
		}
	}
	a := &alphabet{}
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
			bit := uint8(1) << len(a.required)
			for _, c := range kept {
				a.classOf[c] |= bit
			}
			a.want |= bit
			a.required = append(a.required, kept)
		}
	}
	if len(a.all) == 0 {
		return nil, errcode.Invalidf("excludeCharacters", "the password policy excludes every character: nothing is left to build a password from")
	}
	a.reject = 256 % uint32(len(a.all))
	if len(a.required) > p.Length {
		return nil, errcode.Invalidf("passwordLength",
			"must be at least %d to hold one character of each included type (requireEachIncludedType is true), got %d",
			len(a.required), p.Length)
	}
	return a, nil
}

// Generator draws credentials from a random source, read in blocks. A
// Generator is not safe for concurrent use; the package-level functions are.
type Generator struct {
	src io.Reader
	buf [512]byte
	pos int
	// The last policy used, and its alphabet: callers mostly repeat one.
	policy   Policy
	alphabet *alphabet
}

// NewGenerator returns a generator reading from src, which must be a
// cryptographic random source for passwords.
func NewGenerator(src io.Reader) *Generator {
	return &Generator{src: src, pos: len(Generator{}.buf)}
}

// generators hold crypto/rand generators between calls, so that one read
// of random bytes serves several passwords.
var generators = sync.Pool{New: func() any { return NewGenerator(rand.Reader) }}

// Password returns a new password under p from crypto/rand.
func Password(p Policy) (string, error) {
	g := generators.Get().(*Generator)
	defer generators.Put(g)
	return g.Password(p)
}

// drawsBeforeFallback bounds the whole-password redraws: for any sensible
// policy one draw in a few succeeds (32 characters of the default alphabet:
// 97%), but a policy with a tiny required class could need many.
const drawsBeforeFallback = 16

// Password returns a password satisfying p, drawn uniformly from all the
// passwords that do: each character from the whole alphabet, the whole
// password drawn again if a required class is missing. Should that keep
// happening (a policy whose required class has one character, say), the
// last draw places one character of each required class at random and
// fills the rest, which still satisfies p; so no policy makes it loop.
func (g *Generator) Password(p Policy) (string, error) {
	a := g.alphabet
	if a == nil || p != g.policy {
		var err error
		if a, err = p.alphabet(); err != nil {
			return "", err
		}
		g.policy, g.alphabet = p, a
	}
	out := make([]byte, p.Length)
	n := uint32(len(a.all))
	for draw := 0; draw < drawsBeforeFallback; draw++ {
		var have uint8
		for i := range out {
			for { // accept8 with the alphabet's precomputed rejection bound
				b, err := g.byte()
				if err != nil {
					return "", err
				}
				if m := uint32(b) * n; m&0xff >= a.reject {
					out[i] = a.all[m>>8]
					break
				}
			}
			have |= a.classOf[out[i]]
		}
		if have == a.want {
			return string(out), nil
		}
	}
	for i, class := range a.required {
		c, err := g.pick(class)
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
		set := usernameRest
		if i == 0 {
			set = usernameFirst
		}
		c, err := g.pick(set)
		if err != nil {
			return "", err
		}
		out[i] = c
	}
	return string(out), nil
}

var (
	usernameFirst = []byte(Lowercase)
	usernameRest  = []byte(Lowercase + Digits)
)

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

// uniform returns an integer in [0, n) for 1 <= n <= 65536 by Lemire's
// multiply-and-shift method: no division on the common path, and the random
// values that would make some results likelier than others are rejected.
func (g *Generator) uniform(n int) (int, error) {
	if n <= 256 {
		for {
			b, err := g.byte()
			if err != nil {
				return 0, err
			}
			if v, ok := accept8(b, n); ok {
				return v, nil
			}
		}
	}
	for {
		hi, err := g.byte()
		if err != nil {
			return 0, err
		}
		lo, err := g.byte()
		if err != nil {
			return 0, err
		}
		if v, ok := accept16(uint16(hi)<<8|uint16(lo), n); ok {
			return v, nil
		}
	}
}

// accept8 maps a random byte onto [0, n), or rejects it: of the 256 bytes,
// exactly 256 % n are rejected and every result has 256 / n of the rest.
func accept8(x byte, n int) (int, bool) {
	m := uint32(x) * uint32(n)
	if low := m & 0xff; low < uint32(n) && low < (256-uint32(n))%uint32(n) {
		return 0, false
	}
	return int(m >> 8), true
}

// accept16 is accept8 for 16-bit values.
func accept16(x uint16, n int) (int, bool) {
	m := uint32(x) * uint32(n)
	if low := m & 0xffff; low < uint32(n) && low < (65536-uint32(n))%uint32(n) {
		return 0, false
	}
	return int(m >> 16), true
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
