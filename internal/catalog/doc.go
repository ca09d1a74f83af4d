// Package catalog generates and checks Shopflow's event catalog: docs/events/asyncapi.yaml,
// an AsyncAPI 3.0 document of every Kafka topic (the contexts' event topics and the
// dead-letter topics), the record envelope and headers, and one message per event type and
// schema version, whose payload is a JSON Schema generated from the Go event type by
// github.com/invopop/jsonschema; and docs/events/schemas/<EventType>.v<N>.json, the schema
// of every version of every event type.
//
// The schema files are the record of what each version looked like: the current version's
// file is generated from the Go type; the files of older versions are never rewritten, so
// the catalog keeps describing what old records on the topics (kept forever) and in the
// stores hold. [Check] finds what `make catalog` (cmd/shopflow-catalog) would change, and
// refuses a change to a Go event type that is not backward compatible (a field removed,
// renamed or retyped) at the same schema version: such a change needs a new version
// (domain.Versioned) and an upcaster from the old one (domain.RegisterEvent refuses a
// version without one).
package catalog
