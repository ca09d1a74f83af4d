// Package apiclient is a small JSON client of Shopflow's public HTTP API, for the tools that
// drive a running stack from outside the way a shop does: cmd/shopflow-load and the fault
// suite (package chaos). It knows only HTTP and JSON: statuses, bodies and the
// Idempotency-Key header, nothing of Shopflow's internals.
package apiclient
