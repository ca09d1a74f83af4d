package api

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
)

// ProblemContentType is the media type of error responses (RFC 9457).
const ProblemContentType = "application/problem+json"

// Problem is an RFC 9457 problem document. Errors lists every field at fault, so a client
// can fix all of them in one round trip.
type Problem struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Instance string       `json:"instance,omitempty"`
	Errors   []FieldError `json:"errors,omitempty"`
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
// errors and this maps them (with errors.As, so wrapped errors map too). Only 5xx are logged.
func ErrorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		p := toProblem(err)
		p.Instance = c.Request().URL.Path
		if p.Status >= 500 {
			log.ErrorContext(c.Request().Context(), "request failed", "path", p.Instance, "err", err)
		}
		c.Response().Header().Set(echo.HeaderContentType, ProblemContentType)
		if werr := c.JSON(p.Status, p); werr != nil {
			log.Warn("write problem response", "err", werr)
		}
	}
}

func toProblem(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		cp := *p
		return &cp
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		detail, _ := he.Message.(string)
		return NewProblem(he.Code, detail)
	}
	return NewProblem(http.StatusInternalServerError, "internal error")
}
