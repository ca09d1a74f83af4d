package domain

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestValidationError(t *testing.T) {
	var v ValidationError
	if v.Err() != nil {
		t.Fatal("empty ValidationError is an error")
	}
	v.Check(true, "ok", "never")
	v.Check(false, "count", "must be greater than 0")
	v.Required("name", "  ", 5)
	v.Required("sku", "abcdef", 5)
	v.Required("title", "ééééé", 5) // 5 runes, 10 bytes: valid
	v.MaxLen("note", "123456", 5)
	v.MaxLen("empty", "", 5)
	v.Add("lines[0].quantity", "is odd")
	err := fmt.Errorf("place order: %w", v.Err())

	var ve *ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, ErrValidation) || errors.Is(err, ErrRuleViolation) {
		t.Fatalf("err %v does not match ErrValidation", err)
	}
	want := []FieldError{
		{"count", "must be greater than 0"}, {"name", "is required"}, {"sku", "must be at most 5 characters"},
		{"note", "must be at most 5 characters"}, {"lines[0].quantity", "is odd"},
	}
	if fmt.Sprint(ve.Fields) != fmt.Sprint(want) {
		t.Errorf("Fields = %v, want %v", ve.Fields, want)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "place order: validation failed: count: must be greater than 0; name: is required;") {
		t.Errorf("Error() = %q", msg)
	}
}

func TestRuleError(t *testing.T) {
	sentinel := &RuleError{Code: "order_not_cancellable", Message: "generic"}
	specific := &RuleError{Code: "order_not_cancellable", Message: "order 7 is rejected"}
	err := fmt.Errorf("cancel: %w", specific)
	tests := []struct {
		name   string
		target error
		want   bool
	}{
		{"sentinel with same code", sentinel, true},
		{"kind", ErrRuleViolation, true},
		{"other code", &RuleError{Code: "stock_limit_exceeded"}, false},
		{"validation", ErrValidation, false},
		{"not found", ErrNotFound, false},
	}
	for _, tt := range tests {
		if got := errors.Is(err, tt.target); got != tt.want {
			t.Errorf("%s: errors.Is = %v, want %v", tt.name, got, tt.want)
		}
	}
	var re *RuleError
	if !errors.As(err, &re) || re != specific || err.Error() != "cancel: order_not_cancellable: order 7 is rejected" {
		t.Errorf("errors.As / Error() = %v %q", re, err.Error())
	}
}
