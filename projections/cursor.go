package projections

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
)

// ErrBadCursor is returned (wrapped) for a cursor that is malformed or belongs to another
// query or sort order. The read API answers 400 for it.
var ErrBadCursor = errors.New("projections: invalid cursor")

// Cursor marks where a page of search results ended. It is opaque to clients: the base64
// (URL alphabet) of the sort values of the page's last hit, bound to the query and sort order
// that produced it.
type Cursor struct {
	Query  string            `json:"q"` // fingerprint of the query and sort
	Values []json.RawMessage `json:"v"` // search_after values: numbers, strings or null
}

// ParseCursor decodes a cursor a previous page returned.
func ParseCursor(s string) (Cursor, error) {
	var c Cursor
	data, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(data) > 4096 {
		return c, fmt.Errorf("%w: not a cursor this API returned", ErrBadCursor)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || c.Query == "" || len(c.Values) == 0 || len(c.Values) > 4 {
		return c, fmt.Errorf("%w: not a cursor this API returned", ErrBadCursor)
	}
	return c, nil
}

// String encodes the cursor for a client.
func (c Cursor) String() string {
	data, _ := json.Marshal(c) // a struct of strings and raw JSON always encodes
	return base64.RawURLEncoding.EncodeToString(data)
}

// valueKind is the JSON type a sort field's search_after value must have.
type valueKind int

const (
	kindInteger valueKind = iota // long and date fields (epoch milliseconds)
	kindFloat                    // _score
	kindKeyword                  // keyword fields: a string, or null for a missing value
)

// sortSpec is one accepted sort order: a field and a direction, then the id as tie-breaker.
type sortSpec struct {
	field string
	desc  bool
	kind  valueKind
}

func (s sortSpec) clause() []any {
	order := "asc"
	if s.desc {
		order = "desc"
	}
	return []any{map[string]any{s.field: map[string]any{"order": order}}, map[string]any{"id": map[string]any{"order": "asc"}}}
}

// check verifies that the cursor's values fit the sort: Elasticsearch would refuse others.
func (s sortSpec) check(c Cursor) error {
	if len(c.Values) != 2 || !validValue(c.Values[0], s.kind) || !validValue(c.Values[1], kindKeyword) {
		return fmt.Errorf("%w: not a cursor of this sort order", ErrBadCursor)
	}
	return nil
}

func validValue(raw json.RawMessage, kind valueKind) bool {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return false
	}
	switch v := v.(type) {
	case json.Number:
		if kind == kindInteger {
			_, err := strconv.ParseInt(v.String(), 10, 64)
			return err == nil
		}
		_, err := v.Float64()
		return kind == kindFloat && err == nil
	case string:
		return kind == kindKeyword
	case nil:
		return kind == kindKeyword
	}
	return false
}

// fingerprint identifies a query and sort order, so that a cursor is only accepted by the
// query that produced it.
func fingerprint(parts ...any) string {
	data, _ := json.Marshal(parts) // strings, numbers, times and slices of them always encode
	h := fnv.New64a()
	h.Write(data)
	return strconv.FormatUint(h.Sum64(), 36)
}
