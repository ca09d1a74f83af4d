package api

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/internal/command"
)

// decoder reads a command request member by member, so that a client learns every
// problem of its request at once, each named by its path ("lines[2].quantity",
// "path.id"): malformed input (not JSON, wrong JSON types, unknown members, bad path
// parameters: 400) and missing required members (422). The zero value is ready to use.
type decoder struct {
	malformed []FieldError
	missing   []FieldError
}

// object reads the members of one JSON object of the body.
type object struct {
	d       *decoder
	path    string // "" for the body itself
	members map[string]json.RawMessage
	read    map[string]bool
}

// body parses a request body that must be one JSON object. An empty body is an empty
// object when optional, else malformed.
func (d *decoder) body(raw []byte, optional bool) *object {
	if len(bytes.TrimSpace(raw)) == 0 {
		if !optional {
			d.bad("body", "is required: a JSON object")
		}
		return &object{d: d, read: map[string]bool{}}
	}
	var syntax *json.SyntaxError
	if err := json.Unmarshal(raw, new(json.RawMessage)); errors.As(err, &syntax) {
		d.bad("body", fmt.Sprintf("is not valid JSON (at byte %d): %v", syntax.Offset, err))
		return &object{d: d, read: map[string]bool{}}
	}
	return d.object("", raw)
}

// object parses raw as a JSON object found at path.
func (d *decoder) object(path string, raw json.RawMessage) *object {
	o := &object{d: d, path: path, read: map[string]bool{}}
	if err := json.Unmarshal(raw, &o.members); err != nil || o.members == nil {
		d.bad(cmp.Or(path, "body"), "must be a JSON object")
	}
	return o
}

// pathID reads the route's :id parameter, which must be a UUID; it returns it canonical.
func (d *decoder) pathID(c echo.Context) string {
	id, ok := command.ParseID(c.Param("id"))
	if !ok {
		d.bad("path.id", "must be a UUID")
	}
	return id
}

// bad records a malformed field.
func (d *decoder) bad(field, reason string) {
	d.malformed = append(d.malformed, FieldError{Field: field, Reason: reason})
}

// finish returns the 400 problem listing every malformed field, else the 422 problem
// listing every missing field together with the fields validate (the command's own
// validation, may be nil) reports, else nil.
func (d *decoder) finish(validate func() error) error {
	if len(d.malformed) > 0 {
		return NewProblem(http.StatusBadRequest, "the request is malformed", d.malformed...)
	}
	if len(d.missing) == 0 {
		return nil
	}
	fields := d.missing
	var ve *domain.ValidationError
	if validate != nil && errors.As(validate(), &ve) {
		for _, f := range ve.Fields {
			fields = append(fields, FieldError(f))
		}
	}
	return NewProblem(http.StatusUnprocessableEntity, "the request has invalid fields", fields...)
}

// field returns the path of member name: "name" at the top, "path.name" below. A name that
// could not be told apart in such a path (empty, or holding '.', '[', ']' or '"') is written
// as a JSON string in brackets instead, `path[""]`, so that every field at fault has a name.
func (o *object) field(name string) string {
	if name == "" || strings.ContainsAny(name, `.[]"`) {
		quoted, _ := json.Marshal(name) // a string always marshals
		return o.path + "[" + string(quoted) + "]"
	}
	if o.path == "" {
		return name
	}
	return o.path + "." + name
}

// value returns member name's raw value, nil if it is absent or null; a missing required
// member is recorded.
func (o *object) value(name string, required bool) json.RawMessage {
	o.read[name] = true
	v, ok := o.members[name]
	if !ok || string(v) == "null" {
		if required {
			o.d.missing = append(o.d.missing, FieldError{Field: o.field(name), Reason: "is required"})
		}
		return nil
	}
	return v
}

// String reads a string member ("" if absent or null). It must be valid UTF-8 (JSON
// decoding would silently turn bad bytes into U+FFFD) and hold no NUL character, which no
// database text column takes.
func (o *object) String(name string, required bool) string {
	var s string
	v := o.value(name, required)
	switch {
	case v == nil:
	case !utf8.Valid(v):
		o.d.bad(o.field(name), "must be valid UTF-8")
	case json.Unmarshal(v, &s) != nil:
		o.d.bad(o.field(name), "must be a string")
	case strings.ContainsRune(s, 0):
		s = ""
		o.d.bad(o.field(name), "must not contain the NUL character (U+0000)")
	}
	return s
}

// Int reads an integer member (0 if absent or null). As in JSON Schema, a number with a
// zero fraction or an exponent is an integer too (27.0, 1e3) when it is one exactly.
func (o *object) Int(name string, required bool) int64 {
	v := o.value(name, required)
	if v == nil {
		return 0
	}
	n, ok := integer(v)
	if !ok {
		o.d.bad(o.field(name), "must be an integer from -2^63 to 2^63-1")
	}
	return n
}

// integer returns the JSON number raw as an int64 if it is exactly an integer in range. It
// works on the decimal digits, so a number such as 1e999999999 costs no big arithmetic.
func integer(raw json.RawMessage) (int64, bool) {
	raw = bytes.Trim(raw, " \t\r\n")    // JSON's whitespace
	if len(raw) == 0 || raw[0] == '"' { // json.Number would take a string holding a number
		return 0, false
	}
	var num json.Number
	if json.Unmarshal(raw, &num) != nil || num == "" {
		return 0, false
	}
	s := num.String()
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	sign := ""
	if s[0] == '-' {
		sign, s = "-", s[1:]
	}
	mantissa, exponent, _ := strings.Cut(strings.ToLower(s), "e")
	whole, fraction, _ := strings.Cut(mantissa, ".")
	exp := 0
	if exponent != "" {
		e, err := strconv.Atoi(exponent)
		if err != nil {
			return 0, false // an exponent beyond int: not an int64 (zero mantissas aside)
		}
		exp = e
	}
	digits := strings.TrimLeft(whole+fraction, "0")
	exp -= len(fraction)
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits, exp = digits[:len(digits)-1], exp+1
	}
	switch {
	case digits == "":
		return 0, true
	case exp < 0 || len(digits)+exp > 19:
		return 0, false
	}
	n, err := strconv.ParseInt(sign+digits+strings.Repeat("0", exp), 10, 64)
	return n, err == nil
}

// Objects reads an array of objects (nil if absent or null). The caller reads each
// object's members and calls done on it.
func (o *object) Objects(name string, required bool) []*object {
	v := o.value(name, required)
	if v == nil {
		return nil
	}
	var items []json.RawMessage
	if json.Unmarshal(v, &items) != nil {
		o.d.bad(o.field(name), "must be an array of objects")
		return nil
	}
	objects := make([]*object, len(items))
	for i, item := range items {
		objects[i] = o.d.object(fmt.Sprintf("%s[%d]", o.field(name), i), item)
	}
	return objects
}

// done records every member that was not read as unknown, in name order.
func (o *object) done() {
	for _, name := range slices.Sorted(maps.Keys(o.members)) {
		if !o.read[name] {
			o.d.bad(o.field(name), "is not a known field")
		}
	}
}
