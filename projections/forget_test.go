package projections_test

import (
	"strings"
	"testing"

	"github.com/shopflow/shopflow/domain/payment"
	"github.com/shopflow/shopflow/projections/projectionstest"
)

// customersMappingV1 is the customers mapping of mapping version 1, before forgetting.
const customersMappingV1 = `{
  "dynamic": "strict",
  "_meta": {"projection": "customers", "mapping_version": 1, "generation": 1, "state": "live"},
  "properties": {
    "id":                {"type": "keyword"},
    "version":           {"type": "long"},
    "name":              {"type": "text", "fields": {"keyword": {"type": "keyword", "normalizer": "lower", "ignore_above": 256}}},
    "email":             {"type": "keyword", "normalizer": "lower", "ignore_above": 320, "fields": {"text": {"type": "text"}}},
    "balance_cents":     {"type": "long"},
    "payments_captured": {"type": "long"},
    "payments_declined": {"type": "long"},
    "payments_refunded": {"type": "long"},
    "opened_at":         {"type": "date"},
    "updated_at":        {"type": "date"}
  }
}`

// A live index of the mapping before forgetting (strict, no forgotten field) is upgraded by
// the worker, so a CustomerForgotten is applied instead of being refused; the customer of an
// account opened before sealing (clear data, no key store) is forgotten too.
func TestForgetReachesALiveIndexOfTheOldMapping(t *testing.T) {
	env := projectionstest.New(t, 1)
	alias := env.Config.Alias("customers")
	body := `{"settings":{"number_of_replicas":0,"analysis":{"normalizer":{"lower":{"type":"custom","filter":["lowercase"]}}}},` +
		`"aliases":{"` + alias + `":{"is_write_index":true}},"mappings":` + customersMappingV1 + `}`
	res, err := env.ES.Indices.Create(alias+"_v1", env.ES.Indices.Create.WithBody(strings.NewReader(body)))
	if err != nil || res.IsError() {
		t.Fatalf("create the old index: %v %v", err, res)
	}
	res.Body.Close()
	shop := projectionstest.NewShop(3)
	id := shop.Customer("Ada", "ada@example.com", 100)
	shop.Record(payment.AggregateType, id, payment.CustomerForgotten{CustomerID: id})
	env.Produce(t, shop.Events...)
	env.StartWorker(t, "customers")
	env.WaitCaughtUp(t, "customers")
	doc := env.Snapshot(t, alias)[id]
	if doc.Source["forgotten"] != true || doc.Source["name"] != "" || doc.Source["email"] != "" || doc.Source["balance_cents"] != float64(100) {
		t.Fatalf("customer after CustomerForgotten: %v; want forgotten, balance kept", doc.Source)
	}
}
