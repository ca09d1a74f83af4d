// Package api serves Shopflow over HTTP with echo: the write API (commands), the read API
// (queries over the Elasticsearch read models) and the operational endpoints.
//
// Errors are RFC 9457 problem documents (application/problem+json) produced in one place,
// ErrorHandler, which maps domain and infrastructure errors with errors.As.
package api
