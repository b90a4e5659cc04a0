// Package errcode provides the error type every package returns to the
// triggers: a code the trigger maps to its own transport (HTTP status,
// CloudFormation FAILED reason, EventBridge retry), the field at fault, and a
// message that is safe to show the caller. Details that are not safe to show
// belong in the log, never in Message.
//
// Every package may import it; it imports nothing of the provisioner's.
package errcode

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
)

// Code says what kind of failure happened, independent of the trigger.
type Code string

const (
	Invalid         Code = "invalid"         // the request breaks a rule; retrying cannot help
	Unauthenticated Code = "unauthenticated" // the caller has no identity
	Forbidden       Code = "forbidden"       // the caller or the function may not do this
	Conflict        Code = "conflict"        // the secret exists and is not ours
	NotFound        Code = "not_found"       // the thing asked about does not exist
	Throttled       Code = "throttled"       // Secrets Manager asked us to slow down; retry later
	Upstream        Code = "upstream"        // Secrets Manager answered with a failure
	Unavailable     Code = "unavailable"     // Secrets Manager could not be reached or did not answer in time
	Internal        Code = "internal"        // our own bug
)

// Error is a failure with a code and a caller-safe message.
type Error struct {
	Code    Code
	Field   string // the request field at fault, if any
	Message string // safe to show the caller: names the field and the rule
	Err     error  // the underlying cause, for the log only
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error with the given code and message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalidf returns an Invalid error naming field.
func Invalidf(field, format string, args ...any) *Error {
	return &Error{Code: Invalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an error with the given code and caller-safe message that keeps
// cause for the log.
func Wrap(cause error, code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: cause}
}

// Of returns the code of err, or Internal when err carries none: an uncoded
// error is a bug of ours, and its text must not reach the caller.
func Of(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// Message returns the caller-safe text of err; an uncoded error gets a generic
// text so that internal details stay in the log.
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Error()
	}
	return "internal error"
}

// FieldOf returns the request field err names, if any.
func FieldOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// Public returns err as the caller may see it: a coded error as it is, and
// anything else as an Internal error with a generic message, keeping the
// original as the cause for the log.
func Public(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: Internal, Message: "internal error", Err: err}
}

// LogValue logs the code, field, message and cause: the log is where the
// details the caller does not see belong.
func (e *Error) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("code", string(e.Code)), slog.String("message", e.Message)}
	if e.Field != "" {
		attrs = append(attrs, slog.String("field", e.Field))
	}
	if e.Err != nil {
		attrs = append(attrs, slog.String("cause", e.Err.Error()))
	}
	return slog.GroupValue(attrs...)
}

// MaxEcho is how many characters of a caller's value a message or a log line
// repeats: enough to recognise it, never a 200 KB value played back.
const MaxEcho = 100

// Clip returns s cut to MaxEcho characters, saying how long it was when cut.
func Clip(s string) string { return ClipTo(s, MaxEcho) }

// ClipTo is Clip for values AWS itself makes long, such as a stack id (an
// ARN of up to about 220 characters) in a log line.
func ClipTo(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max {
			return s[:i] + fmt.Sprintf("... (%d bytes in all)", len(s))
		}
		n++
	}
	return s
}

// Quote is Clip(s) as a Go string literal, for messages that show a value.
func Quote(s string) string {
	return strconv.Quote(Clip(s))
}
