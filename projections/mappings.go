package projections

// analysis is the analysis section of every index. Only the server's own analysis
// components are used (no analysis-common module): the standard analyzer for text and a
// lowercase normalizer for exact, case-insensitive keywords (SKUs, e-mails).
var analysis = map[string]any{
	"normalizer": map[string]any{
		"lower": map[string]any{"type": "custom", "filter": []string{"lowercase"}},
	},
}

// The mappings are explicit and strict: a field the code does not know is refused instead of
// guessed. Text fields that are also sorted or matched exactly have a keyword sub-field;
// exact fields that are also searched as words have a text sub-field. Bump a model's
// mapping version when its mapping changes: Status then reports the index as stale until a
// rebuild creates a generation with the new mapping — unless the change only adds fields,
// which workers apply to the live index when they start (indices.upgrade).

// ordersMapping holds order documents (kind "order") and the reference documents the
// orders model joins into them (kinds "product_ref" and "customer_ref", unindexed payload).
const ordersMapping = `{
  "dynamic": "strict",
  "properties": {
    "kind":          {"type": "keyword"},
    "id":            {"type": "keyword"},
    "version":       {"type": "long"},
    "status":        {"type": "keyword"},
    "customer_id":   {"type": "keyword"},
    "customer": {"properties": {
      "name":  {"type": "text", "fields": {"keyword": {"type": "keyword", "normalizer": "lower", "ignore_above": 256}}},
      "email": {"type": "keyword", "normalizer": "lower", "ignore_above": 320, "fields": {"text": {"type": "text"}}},
      "forgotten": {"type": "boolean"}
    }},
    "lines": {"properties": {
      "product_id":       {"type": "keyword"},
      "sku":              {"type": "keyword", "normalizer": "lower", "ignore_above": 256, "fields": {"text": {"type": "text"}}},
      "name":             {"type": "text", "fields": {"keyword": {"type": "keyword", "normalizer": "lower", "ignore_above": 256}}},
      "quantity":         {"type": "long"},
      "unit_price_cents": {"type": "long"}
    }},
    "total_cents":   {"type": "long"},
    "currency":      {"type": "keyword"},
    "reject_reason": {"type": "keyword"},
    "cancel_reason": {"type": "text"},
    "placed_at":     {"type": "date"},
    "updated_at":    {"type": "date"},
    "missing_refs":  {"type": "keyword"},
    "ref":           {"type": "object", "enabled": false}
  }
}`

const productsMapping = `{
  "dynamic": "strict",
  "properties": {
    "id":            {"type": "keyword"},
    "version":       {"type": "long"},
    "sku":           {"type": "keyword", "normalizer": "lower", "ignore_above": 256, "fields": {"text": {"type": "text"}}},
    "name":          {"type": "text", "fields": {"keyword": {"type": "keyword", "normalizer": "lower", "ignore_above": 256}}},
    "description":   {"type": "text"},
    "price_cents":   {"type": "long"},
    "currency":      {"type": "keyword"},
    "available":     {"type": "long"},
    "reserved":      {"type": "long"},
    "in_stock":      {"type": "boolean"},
    "registered_at": {"type": "date"},
    "updated_at":    {"type": "date"}
  }
}`

const customersMapping = `{
  "dynamic": "strict",
  "properties": {
    "id":                {"type": "keyword"},
    "version":           {"type": "long"},
    "name":              {"type": "text", "fields": {"keyword": {"type": "keyword", "normalizer": "lower", "ignore_above": 256}}},
    "email":             {"type": "keyword", "normalizer": "lower", "ignore_above": 320, "fields": {"text": {"type": "text"}}},
    "forgotten":         {"type": "boolean"},
    "balance_cents":     {"type": "long"},
    "payments_captured": {"type": "long"},
    "payments_declined": {"type": "long"},
    "payments_refunded": {"type": "long"},
    "opened_at":         {"type": "date"},
    "updated_at":        {"type": "date"}
  }
}`
