package errcode

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCodeMessageField(t *testing.T) {
	cause := errors.New("dial tcp 10.0.0.1:443: connection refused")
	tests := []struct {
		name    string
		err     error
		code    Code
		message string
		field   string
	}{
		{"invalid names its field", Invalidf("port", "must be between 1 and %d", 65535), Invalid, "port: must be between 1 and 65535", "port"},
		{"wrapped keeps the safe message", fmt.Errorf("creating: %w", Wrap(cause, Upstream, "Secrets Manager could not be reached")), Upstream, "Secrets Manager could not be reached", ""},
		{"an uncoded error is internal and says nothing", cause, Internal, "internal error", ""},
		{"no error", nil, "", "internal error", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Of(tt.err); got != tt.code {
				t.Errorf("Of = %q, want %q", got, tt.code)
			}
			if tt.err != nil {
				if got := Message(tt.err); got != tt.message {
					t.Errorf("Message = %q, want %q", got, tt.message)
				}
			}
			if got := FieldOf(tt.err); got != tt.field {
				t.Errorf("FieldOf = %q, want %q", got, tt.field)
			}
		})
	}
	if !errors.Is(Wrap(cause, Upstream, "x"), cause) {
		t.Fatal("Wrap loses the cause, which the log needs")
	}
}

func TestClip(t *testing.T) {
	long := strings.Repeat("é", 200_000)
	for _, tc := range []struct {
		in        string
		wantLen   int // in runes, before the note
		wantNoted bool
	}{
		{"", 0, false},
		{"mysql", 5, false},
		{strings.Repeat("x", MaxEcho), MaxEcho, false},
		{strings.Repeat("x", MaxEcho+1), MaxEcho, true},
		{long, MaxEcho, true},
	} {
		got := Clip(tc.in)
		kept, _, noted := strings.Cut(got, "... (")
		if noted != tc.wantNoted || utf8.RuneCountInString(kept) != tc.wantLen || !utf8.ValidString(got) {
			t.Errorf("Clip(%d bytes) = %q", len(tc.in), got)
		}
		if q := Quote(tc.in); len(q) > 4*MaxEcho+40 {
			t.Errorf("Quote(%d bytes) is %d bytes", len(tc.in), len(q))
		}
	}
}
