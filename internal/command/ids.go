package command

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/shopflow/shopflow/domain"
)

// StreamID returns the event stream id of an aggregate: "<aggregateType>-<id>", e.g.
// StreamID(order.AggregateType, id) = "order-0190…".
func StreamID(aggregateType, id string) string { return aggregateType + "-" + id }

// NewID returns a new aggregate id: a UUIDv7 (time-ordered) in canonical form.
func NewID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("new id: %w", err)
	}
	return id.String(), nil
}

// ParseID checks that s is a UUID in the 36-character hyphenated form and returns it in
// canonical (lower-case) form, so that one aggregate never gets two stream ids.
func ParseID(s string) (id string, ok bool) {
	if len(s) != 36 {
		return "", false
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

// checkID returns s in canonical form, or records field as invalid in v and returns s as
// is. An empty s is left to the domain, which reports it as required.
func checkID(v *domain.ValidationError, field, s string) string {
	if s == "" {
		return s
	}
	id, ok := ParseID(s)
	if !ok {
		v.Add(field, "must be a UUID")
		return s
	}
	return id
}

// withFields adds the fields of err, if it is a *domain.ValidationError, to v and returns
// v if it holds any field; otherwise it returns err.
func withFields(v *domain.ValidationError, err error) error {
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		v.Fields = append(v.Fields, ve.Fields...)
	} else if err != nil {
		return err
	}
	return v.Err()
}

// normalForm is the form in which unique values (SKUs, emails) are compared: case and
// surrounding white space do not tell two of them apart. It must agree with the migration
// that claimed the values of earlier streams (lower(btrim(…))): they agree on ASCII.
func normalForm(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
