package props

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"

	"github.com/dbcreds/provisioner/shared/errcode"
)

// Strings is a list of strings.
type Strings []string

func (ss *Strings) DecodeJSON(raw []byte, field string) error {
	*ss = Strings{}
	return DecodeList(raw, field, "a list of strings", func(item []byte, path string) error {
		var s string
		if err := DecodeString(&s, item, path); err != nil {
			return err
		}
		*ss = append(*ss, s)
		return nil
	})
}

// Int accepts 5432 and "5432": CloudFormation passes every value as a string.
type Int int

// Bool accepts true and "true", in any letter case, for the same reason.
type Bool bool

// Sensitive is a secret string. It prints as [redacted] through fmt and slog
// so that logging a request by mistake cannot show it.
type Sensitive string

func (Sensitive) String() string       { return "[redacted]" }
func (Sensitive) GoString() string     { return "[redacted]" }
func (Sensitive) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// Binary is secret bytes, given base64-encoded, and redacted like Sensitive.
type Binary []byte

func (Binary) String() string       { return "[redacted]" }
func (Binary) GoString() string     { return "[redacted]" }
func (Binary) LogValue() slog.Value { return slog.StringValue("[redacted]") }

func (i *Int) DecodeJSON(raw []byte, field string) error {
	text := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return errcode.Invalidf(field, "must be a whole number")
		}
	} else if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return errcode.Invalidf(field, "must be a whole number, or a string holding one")
	}
	n, err := strconv.ParseInt(text, 10, 32)
	if errors.Is(err, strconv.ErrRange) {
		return errcode.Invalidf(field, "is out of range")
	}
	if err != nil {
		return errcode.Invalidf(field, "must be a whole number, got %q", truncate(text, 20))
	}
	*i = Int(n)
	return nil
}

func (b *Bool) DecodeJSON(raw []byte, field string) error {
	text := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return errcode.Invalidf(field, "must be true or false")
		}
	}
	switch strings.ToLower(text) {
	case "true":
		*b = true
	case "false":
		*b = false
	default:
		return errcode.Invalidf(field, "must be true or false, or a string holding one")
	}
	return nil
}

func (s *Binary) DecodeJSON(raw []byte, field string) error {
	var text string
	if err := json.Unmarshal(raw, &text); err != nil {
		return errcode.Invalidf(field, "must be a base64-encoded string")
	}
	if text == "" {
		return errcode.Invalidf(field, "must not be empty: give the secret's bytes, base64-encoded")
	}
	data, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return errcode.Invalidf(field, "must be a base64-encoded string")
	}
	*s = data
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
