// Package props decodes request objects as every trigger sends them:
// CloudFormation's properties (PascalCase, every value a string), HTTP
// bodies and EventBridge details (camelCase), into one struct, leniently
// in form and strictly in meaning. It provides the decoder, a small JSON
// scanner and the value types that accept more than one form (Int, Bool,
// Strings, Sensitive, Binary). It imports nothing of the provisioner's but
// errcode.
package props

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/dbcreds/provisioner/shared/errcode"
)

// DecodeFields parses a JSON object into v, a pointer to a struct whose
// fields carry json tags. Field names match case-insensitively
// (CloudFormation's "DbName" and the API's "dbname" are one field), numbers
// and booleans may be strings, null and an empty string for a number or
// boolean mean "not given", and an unknown field, a field given twice in
// different cases, or a value of the wrong type is an Invalid error naming
// the field. keep, when not nil, picks the top-level members that are v's
// to decode (the others belong to someone else, like CloudFormation's
// ServiceToken).
func DecodeFields(data []byte, v any, keep func(key string) bool) error {
	data = bytes.TrimSpace(data)
	// One check of the whole document; below, the scanner relies on it.
	if !json.Valid(data) {
		return errcode.New(errcode.Invalid, "the request is not valid JSON")
	}
	return decodeObject(reflect.ValueOf(v).Elem(), data, "", keep)
}

// Decoder is implemented by the types that accept more than one JSON form;
// field names the value in errors.
type Decoder interface {
	DecodeJSON(raw []byte, field string) error
}

var (
	intType  = reflect.TypeFor[Int]()
	boolType = reflect.TypeFor[Bool]()
)

// DecodeStruct decodes the JSON object raw into the struct ptr points to.
func DecodeStruct(ptr any, raw []byte, field string) error {
	return decodeValue(reflect.ValueOf(ptr).Elem(), raw, field)
}

func decodeValue(v reflect.Value, raw []byte, field string) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return errcode.New(errcode.Invalid, "the request is not valid JSON")
	}
	if string(raw) == "null" {
		return nil
	}
	if string(raw) == `""` {
		if t := v.Type(); t == intType || t == boolType || (t.Kind() == reflect.Pointer && (t.Elem() == intType || t.Elem() == boolType)) {
			return nil
		}
	}
	if v.Kind() == reflect.Pointer {
		elem := reflect.New(v.Type().Elem())
		if err := decodeValue(elem.Elem(), raw, field); err != nil {
			return err
		}
		v.Set(elem)
		return nil
	}
	if d, ok := v.Addr().Interface().(Decoder); ok {
		return d.DecodeJSON(raw, field)
	}
	switch v.Kind() {
	case reflect.String:
		var s string
		if err := DecodeString(&s, raw, field); err != nil {
			return err
		}
		v.SetString(s)
		return nil
	case reflect.Map: // of JSON values, as extraFields
		if raw[0] != '{' {
			return errcode.Invalidf(field, "must be an object")
		}
		m := map[string]json.RawMessage{}
		err := Members(raw, func(key string, value []byte) error {
			if _, twice := m[key]; twice {
				return errcode.Invalidf(field, "key %s is given twice", errcode.Quote(key))
			}
			m[key] = json.RawMessage(value)
			return nil
		})
		if err != nil {
			return err
		}
		v.Set(reflect.ValueOf(m))
		return nil
	case reflect.Struct:
		return decodeObject(v, raw, field, nil)
	}
	return errcode.New(errcode.Internal, "no decoder for %s", v.Type())
}

func decodeObject(v reflect.Value, raw []byte, field string, keep func(string) bool) error {
	if len(raw) == 0 || raw[0] != '{' {
		if field == "" {
			return errcode.New(errcode.Invalid, "the request must be a JSON object")
		}
		return errcode.Invalidf(field, "must be an object")
	}
	fields := fieldsOf(v.Type())
	seen := make([]string, v.NumField()) // the key each field was given as
	var lower [64]byte
	return Members(raw, func(key string, value []byte) error {
		if keep != nil && !keep(key) {
			return nil
		}
		f, ok := fields[string(appendLower(lower[:0], key))]
		if !ok {
			return errcode.Invalidf(join(field, errcode.Clip(key)), "is not a known field")
		}
		if other := seen[f.index]; other != "" {
			return errcode.Invalidf(join(field, f.name), "is given twice, as %q and %q", other, key)
		}
		seen[f.index] = key
		return decodeValue(v.Field(f.index), value, join(field, f.name))
	})
}

// appendLower appends the ASCII lower case of s; field names are ASCII, and
// a lookup with string(bytes) does not allocate.
func appendLower(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// DecodeString decodes the JSON string raw.
func DecodeString(s *string, raw []byte, field string) error {
	if raw[0] != '"' {
		return errcode.Invalidf(field, "must be a string")
	}
	text, err := unquote(raw)
	if err != nil {
		return errcode.Invalidf(field, "must be a string")
	}
	*s = text
	return nil
}

// DecodeList calls each with every element of the JSON array raw and its
// path (field[i]); want says what the field must be, for the error.
func DecodeList(raw []byte, field, want string, each func(item []byte, path string) error) error {
	if raw[0] != '[' {
		return errcode.Invalidf(field, "must be %s", want)
	}
	return elements(raw, func(i int, item []byte) error {
		path := field + "[" + strconv.Itoa(i) + "]"
		if string(item) == "null" {
			return errcode.Invalidf(path, "must not be null")
		}
		return each(item, path)
	})
}

type structField struct {
	name  string // as documented, for error messages
	index int
}

var fieldCache sync.Map // reflect.Type -> map[string]structField

// fieldsOf maps the lower-cased JSON name of each field of t to the field.
func fieldsOf(t reflect.Type) map[string]structField {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]structField)
	}
	m := make(map[string]structField, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		m[strings.ToLower(name)] = structField{name: name, index: i}
	}
	fieldCache.Store(t, m)
	return m
}

func join(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}
