package errcode

import (
	"errors"
	"fmt"
	"testing"
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
