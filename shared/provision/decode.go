package provision

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/dbcreds/provisioner/shared/errcode"
)

// DecodeRequest parses a request object. Field names match case-insensitively
// (CloudFormation's "DbName" and the API's "dbname" are one field), numbers
// and booleans may be strings, null and an empty string for a number or
// boolean mean "not given", and an unknown field, a field given twice in
// different cases, or a value of the wrong type is an Invalid error naming the
// field.
func DecodeRequest(data []byte) (Request, error) {
	var r Request
	if !json.Valid(data) {
		return r, errcode.New(errcode.Invalid, "the request is not valid JSON")
	}
	if err := decodeStruct(&r, data, ""); err != nil {
		return Request{}, err
	}
	return r, nil
}

// Decode parses a JSON object into v, a pointer to a struct whose fields
// carry json tags, with the rules of DecodeRequest.
func Decode(data []byte, v any) error {
	if !json.Valid(data) {
		return errcode.New(errcode.Invalid, "the request is not valid JSON")
	}
	return decodeStruct(v, data, "")
}

// decoder is implemented by the types that accept more than one JSON form.
type decoder interface {
	decodeJSON(raw []byte, field string) error
}

var (
	intType  = reflect.TypeFor[Int]()
	boolType = reflect.TypeFor[Bool]()
)

func decodeStruct(ptr any, raw []byte, field string) error {
	return decodeValue(reflect.ValueOf(ptr).Elem(), raw, field)
}

func decodeValue(v reflect.Value, raw []byte, field string) error {
	raw = bytes.TrimSpace(raw)
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
	if d, ok := v.Addr().Interface().(decoder); ok {
		return d.decodeJSON(raw, field)
	}
	switch v.Kind() {
	case reflect.String:
		var s string
		if err := decodeString(&s, raw, field); err != nil {
			return err
		}
		v.SetString(s)
		return nil
	case reflect.Map:
		if raw[0] != '{' {
			return errcode.Invalidf(field, "must be an object")
		}
		m := reflect.New(v.Type())
		if err := json.Unmarshal(raw, m.Interface()); err != nil {
			return errcode.Invalidf(field, "must be an object")
		}
		v.Set(m.Elem())
		return nil
	case reflect.Struct:
		return decodeObject(v, raw, field)
	}
	return errcode.New(errcode.Internal, "no decoder for %s", v.Type())
}

func decodeObject(v reflect.Value, raw []byte, field string) error {
	var obj map[string]json.RawMessage
	if raw[0] != '{' || json.Unmarshal(raw, &obj) != nil {
		if field == "" {
			return errcode.New(errcode.Invalid, "the request must be a JSON object")
		}
		return errcode.Invalidf(field, "must be an object")
	}
	fields := fieldsOf(v.Type())
	seen := make(map[string]string, len(obj))
	for _, key := range sortedKeys(obj) {
		lower := strings.ToLower(key)
		f, ok := fields[lower]
		if !ok {
			return errcode.Invalidf(join(field, key), "is not a known field")
		}
		if other, dup := seen[lower]; dup {
			return errcode.Invalidf(join(field, f.name), "is given twice, as %q and %q", other, key)
		}
		seen[lower] = key
		if err := decodeValue(v.Field(f.index), obj[key], join(field, f.name)); err != nil {
			return err
		}
	}
	return nil
}

func decodeString(s *string, raw []byte, field string) error {
	if raw[0] != '"' || json.Unmarshal(raw, s) != nil {
		return errcode.Invalidf(field, "must be a string")
	}
	return nil
}

func decodeList(raw []byte, field, want string, each func(item []byte, path string) error) error {
	var items []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
		return errcode.Invalidf(field, "must be %s", want)
	}
	for i, item := range items {
		item = bytes.TrimSpace(item)
		if string(item) == "null" {
			return errcode.Invalidf(fmt.Sprintf("%s[%d]", field, i), "must not be null")
		}
		if err := each(item, fmt.Sprintf("%s[%d]", field, i)); err != nil {
			return err
		}
	}
	return nil
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

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func join(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}
