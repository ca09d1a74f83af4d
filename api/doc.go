// Package api serves Shopflow over HTTP with echo: the write API (commands), the read API
// (queries over the Elasticsearch read models) and the operational endpoints.
//
// Who may call what is one table, Routes, applied to every request by one middleware
// (access.go): bearer tokens verified by an Authenticator (internal/auth), scopes per
// route, customer tokens limited to their own customer's data (CustomerOf), and
// per-principal rate limits (ratelimit.go).
//
// Errors are RFC 9457 problem documents (application/problem+json) produced in one place,
// ErrorHandler, which maps domain and infrastructure errors with errors.As.
package api
