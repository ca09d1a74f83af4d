package domain

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error kinds. Map them to HTTP in one place (api/) with errors.Is/errors.As:
// ErrNotFound → 404, *ValidationError → 422 with one entry per field,
// *RuleError → 409 with its Code.
var (
	// ErrNotFound reports that an aggregate does not exist (its stream has no
	// events). Returned wrapped, with the aggregate's kind and id.
	ErrNotFound = errors.New("not found")

	// ErrValidation matches every *ValidationError under errors.Is.
	ErrValidation = errors.New("validation failed")

	// ErrRuleViolation matches every *RuleError under errors.Is.
	ErrRuleViolation = errors.New("business rule violated")
)

// FieldError is one invalid input field.
type FieldError struct {
	// Field is the path of the field in the API's JSON request, e.g.
	// "lines[2].quantity".
	Field string `json:"field"`
	// Reason is a short human-readable explanation, e.g. "must be greater than 0".
	Reason string `json:"reason"`
}

// ValidationError reports every invalid field of a command at once, so the
// API can answer with all of them. The zero value collects nothing; use
// [ValidationError.Check] or [ValidationError.Add], then [ValidationError.Err].
type ValidationError struct {
	Fields []FieldError
}

// Add records that field is invalid for reason.
func (e *ValidationError) Add(field, reason string) {
	e.Fields = append(e.Fields, FieldError{Field: field, Reason: reason})
}

// Check records that field is invalid for reason unless ok holds.
func (e *ValidationError) Check(ok bool, field, reason string) {
	if !ok {
		e.Add(field, reason)
	}
}

// Err returns e as an error if it holds at least one field, or nil.
func (e *ValidationError) Err() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

// Error lists the invalid fields: "validation failed: name: is required; ...".
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Reason
	}
	return ErrValidation.Error() + ": " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrValidation) true for any *ValidationError.
func (e *ValidationError) Is(target error) bool { return target == ErrValidation }

// RuleError reports that a valid command is refused by a business rule in
// the aggregate's current state, e.g. cancelling a rejected order.
//
// Packages declare one sentinel *RuleError per code. errors.Is matches a
// RuleError against any *RuleError with the same Code (so a sentinel matches
// an instance carrying a more specific Message) and against [ErrRuleViolation].
type RuleError struct {
	// Code is stable and machine-readable, e.g. "order_not_cancellable".
	Code string
	// Message explains the refusal to a human.
	Message string
}

// Error returns "code: message".
func (e *RuleError) Error() string { return e.Code + ": " + e.Message }

// Is reports whether target is ErrRuleViolation or a *RuleError with the same Code.
func (e *RuleError) Is(target error) bool {
	if target == ErrRuleViolation {
		return true
	}
	t, ok := target.(*RuleError)
	return ok && t.Code == e.Code
}

// Required records field as invalid if value is blank (empty or only white
// space) or longer than max characters (runes).
func (e *ValidationError) Required(field, value string, max int) {
	if strings.TrimSpace(value) == "" {
		e.Add(field, "is required")
		return
	}
	e.MaxLen(field, value, max)
}

// MaxLen records field as invalid if value is longer than max characters (runes).
func (e *ValidationError) MaxLen(field, value string, max int) {
	if utf8.RuneCountInString(value) > max {
		e.Add(field, "must be at most "+strconv.Itoa(max)+" characters")
	}
}
