package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/internal/command"
)

// ProblemContentType is the media type of error responses (RFC 9457).
const ProblemContentType = "application/problem+json"

// Problem is an RFC 9457 problem document. Errors lists every field at fault, so a client
// can fix all of them in one round trip.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	// Code is a stable, machine-readable reason for a 409 (a business rule's code such as
	// "order_not_cancellable", or "version_conflict") or for a refused Idempotency-Key.
	Code   string       `json:"code,omitempty"`
	Errors []FieldError `json:"errors,omitempty"`
	// RetryAfter, when positive, is sent as the Retry-After header in whole seconds
	// (rounded up); 503 answers carry it.
	RetryAfter time.Duration `json:"-"`
	// challenge, when set, is sent as the WWW-Authenticate header (401 and 403).
	challenge string
}

// FieldError names one bad input: a JSON pointer-like path ("lines[0].quantity", or
// "query.size" for parameters) and what is wrong with it.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// Error lets a Problem be returned from a handler as an error.
func (p *Problem) Error() string { return p.Title + ": " + p.Detail }

// NewProblem returns a problem for status with the standard title and the given detail.
func NewProblem(status int, detail string, fields ...FieldError) *Problem {
	return &Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail, Errors: fields}
}

// ErrorHandler is the one place where errors become HTTP responses: every handler returns
// errors and this maps them (with errors.As, so wrapped errors map too). It logs only a
// failure to write the answer: the request log of New records each status sent, and the
// error of a 5xx.
func ErrorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		p := toProblem(err)
		p.Instance = c.Request().URL.Path
		c.Response().Header().Set(echo.HeaderContentType, ProblemContentType)
		if p.RetryAfter > 0 {
			secs := (p.RetryAfter + time.Second - 1) / time.Second
			c.Response().Header().Set(echo.HeaderRetryAfter, strconv.FormatInt(int64(secs), 10))
		}
		if p.challenge != "" {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, p.challenge)
		}
		if werr := c.JSON(p.Status, p); werr != nil {
			log.Warn("write problem response", "err", werr)
		}
	}
}

// problemMappers turn the error kinds that have a meaning for clients into problems, in
// order; the first that recognises an error wins. Anything else is a 500.
var problemMappers = []func(error) *Problem{
	asProblem, asValidationError, asRuleError, asTaken, asSentinel, asUnavailable, asHTTPError,
}

func toProblem(err error) *Problem {
	for _, mapper := range problemMappers {
		if p := mapper(err); p != nil {
			return p
		}
	}
	return NewProblem(http.StatusInternalServerError, "internal error")
}

// asProblem copies a *Problem returned by a handler.
func asProblem(err error) *Problem {
	var p *Problem
	if !errors.As(err, &p) {
		return nil
	}
	cp := *p
	return &cp
}

// asValidationError maps *domain.ValidationError to 422 with every invalid field.
func asValidationError(err error) *Problem {
	var ve *domain.ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	fields := make([]FieldError, len(ve.Fields))
	for i, f := range ve.Fields {
		fields[i] = FieldError(f)
	}
	return NewProblem(http.StatusUnprocessableEntity, "the request has invalid fields", fields...)
}

// asRuleError maps *domain.RuleError to 409 with the rule's code.
func asRuleError(err error) *Problem {
	var re *domain.RuleError
	if !errors.As(err, &re) {
		return nil
	}
	p := NewProblem(http.StatusConflict, re.Message)
	p.Code = re.Code
	return p
}

// asTaken maps *command.TakenError (a product's SKU or a customer's email registered
// already) to 409 with the field at fault.
func asTaken(err error) *Problem {
	var te *command.TakenError
	if !errors.As(err, &te) {
		return nil
	}
	p := NewProblem(http.StatusConflict, te.Error(), FieldError{Field: te.Field, Reason: "is already registered"})
	p.Code = "already_registered"
	return p
}

// asSentinel maps the sentinel errors of the domain and the event store.
func asSentinel(err error) *Problem {
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return NewProblem(http.StatusNotFound, err.Error())
	case errors.Is(err, command.ErrVersionConflict):
		p := NewProblem(http.StatusConflict, "the resource was changed concurrently; retry the request")
		p.Code = "version_conflict"
		return p
	case errors.Is(err, command.ErrEventTooLarge):
		return NewProblem(http.StatusRequestEntityTooLarge, err.Error())
	case errors.Is(err, command.ErrIdempotencyKeyExists):
		p := NewProblem(http.StatusConflict, "this Idempotency-Key was already used")
		p.Code = "idempotency_key_in_use"
		return p
	}
	return nil
}

// asUnavailable maps the errors that mean a dependency is unreachable or overloaded to 503
// with Retry-After: the request may succeed later, and nothing is wrong with it. A deadline
// passed (the command's own, see WriteOptions.Timeout) says the service is busy; the
// others say a dependency is down.
func asUnavailable(err error) *Problem {
	var p *Problem
	switch {
	case dependencyDown(err):
		p = NewProblem(http.StatusServiceUnavailable, "a service this request needs is unavailable, retry later")
		p.RetryAfter = RetryAfterUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		p = NewProblem(http.StatusServiceUnavailable,
			"the request ran out of time: the service is overloaded or a dependency is unavailable, retry later")
		p.RetryAfter = RetryAfterBusy
	}
	return p
}

// dependencyDown reports whether err says that Postgres (or another server reached over
// TCP) cannot be reached or refuses work: a failed connect (pgxpool's too), a network
// error, a connection lost mid-request, or one of unavailableSQLStates.
func dependencyDown(err error) bool {
	var (
		connectErr *pgconn.ConnectError
		opErr      *net.OpError
		pgErr      *pgconn.PgError
	)
	switch {
	case errors.As(err, &connectErr), errors.As(err, &opErr),
		errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case errors.As(err, &pgErr):
		return strings.HasPrefix(pgErr.Code, "08") || slices.Contains(unavailableSQLStates, pgErr.Code)
	}
	return false
}

// unavailableSQLStates are the SQLSTATEs besides class 08 (connection exception) of a
// server that refuses work for now: admin_shutdown, crash_shutdown, cannot_connect_now
// and too_many_connections.
var unavailableSQLStates = []string{
	pgerrcode.AdminShutdown, pgerrcode.CrashShutdown, pgerrcode.CannotConnectNow, pgerrcode.TooManyConnections,
}

// asHTTPError maps echo's errors (404 route, 405, 413 body limit, …).
func asHTTPError(err error) *Problem {
	var he *echo.HTTPError
	if !errors.As(err, &he) {
		return nil
	}
	detail, _ := he.Message.(string)
	if he.Code == http.StatusRequestEntityTooLarge {
		detail = "the request body exceeds " + MaxBodyBytes + "B"
	}
	return NewProblem(he.Code, detail)
}
