package projections_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/domain/inventory"
	"github.com/shopflow/shopflow/internal/testenv"
	"github.com/shopflow/shopflow/projections"
	"github.com/shopflow/shopflow/projections/projectionstest"
)

func newReader(t testing.TB, env *projectionstest.Env) *projections.Reader {
	t.Helper()
	r, err := projections.NewReader(env.ES, env.Config)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestUndecodableRecordsAreDeadLetteredAndProcessingGoesOn(t *testing.T) {
	env := projectionstest.New(t, 1)
	shop := projectionstest.NewShop(6)
	before := shop.Product("SKU-1", "Kettle", 2500, 3)
	garbage := &kgo.Record{Topic: env.Config.InventoryTopic, Key: []byte("product-x"), Value: []byte("not an envelope")}
	badPayload, err := shop.Record(inventory.ProductAggregateType, before, inventory.StockAdded{ProductID: before, Quantity: 1}).
		Record(env.Config.InventoryTopic)
	if err != nil {
		t.Fatal(err)
	}
	badPayload.Value = []byte(strings.Replace(string(badPayload.Value), `"quantity":1`, `"quantity":"one"`, 1))
	after := shop.Product("SKU-2", "Lamp", 4000, 5)
	env.Produce(t, shop.Events[0])
	env.ProduceRecords(t, garbage, badPayload)
	env.Produce(t, shop.Events[2])
	env.StartWorker(t, projections.Products)
	env.WaitCaughtUp(t, projections.Products)

	reader := newReader(t, env)
	if p, err := reader.Product(context.Background(), after); err != nil || p.Name != "Lamp" {
		t.Errorf("product after the dead letters = %+v, %v", p, err)
	}
	if p, err := reader.Product(context.Background(), before); err != nil || p.Available != 3 || p.Version != 1 {
		t.Errorf("product with an undecodable event = %+v, %v; want version 1", p, err)
	}
	dead := env.DeadLetters(t, 2)
	for i, want := range []*kgo.Record{garbage, badPayload} {
		got := dead[i]
		if string(got.Value) != string(want.Value) || projectionstest.Header(got, projections.HeaderDLTSourceTopic) != want.Topic ||
			projectionstest.Header(got, projections.HeaderDLTSourceOffset) != fmt.Sprint(i+1) ||
			!strings.Contains(projectionstest.Header(got, projections.HeaderDLTError), "undecodable") ||
			projectionstest.Header(got, projections.HeaderDLTConsumer) != projections.Products {
			t.Errorf("dead letter %d: value %q headers %v", i, got.Value, got.Headers)
		}
	}
}

func TestADocumentElasticsearchRefusesDoesNotLoseTheOthers(t *testing.T) {
	env := projectionstest.New(t, 1)
	// A stray mapping where sku is a number: documents with a textual SKU are refused.
	alias := env.Config.Alias(projections.Products)
	body := `{"settings":{"number_of_replicas":0},"mappings":{"properties":{"sku":{"type":"long"}}},
		"aliases":{"` + alias + `":{"is_write_index":true}}}`
	res, err := env.ES.Indices.Create(alias+"_v1", env.ES.Indices.Create.WithBody(strings.NewReader(body)))
	if err != nil || res.IsError() {
		t.Fatalf("create index: %v %v", err, res)
	}
	res.Body.Close()
	shop := projectionstest.NewShop(7)
	numeric := shop.Product("12345", "Chair", 9900, 1)
	textual := shop.Product("CH-2", "Stool", 4900, 1)
	shop.Restock(numeric, 2)
	env.Produce(t, shop.Events...)
	env.StartWorker(t, projections.Products)
	env.WaitCaughtUp(t, projections.Products)

	reader := newReader(t, env)
	if p, err := reader.Product(context.Background(), numeric); err != nil || p.Available != 3 {
		t.Errorf("accepted product = %+v, %v; want 3 available", p, err)
	}
	if _, err := reader.Product(context.Background(), textual); err == nil {
		t.Errorf("refused product is in the index")
	}
	dead := env.DeadLetters(t, 1)
	if string(dead[0].Key) != "product-"+textual || !strings.Contains(projectionstest.Header(dead[0], projections.HeaderDLTError), "parsing") {
		t.Errorf("dead letter %q: %s", dead[0].Key, projectionstest.Header(dead[0], projections.HeaderDLTError))
	}
}

func TestAnEventAfterAMissingOneIsAppliedAfterGapTimeout(t *testing.T) {
	env := projectionstest.New(t, 1)
	env.Config.GapTimeout = 300 * time.Millisecond
	reg := prometheus.NewRegistry()
	metrics, err := projections.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	env.Config.Metrics = metrics
	shop := projectionstest.NewShop(8)
	id := shop.Product("SKU-1", "Kettle", 2500, 3)
	shop.Restock(id, 1) // version 2: never published (as if dead-lettered upstream)
	shop.Restock(id, 10)
	env.Produce(t, shop.Events[0], shop.Events[2])
	env.StartWorker(t, projections.Products)
	env.WaitCaughtUp(t, projections.Products)

	p, err := newReader(t, env).Product(context.Background(), id)
	if err != nil || p.Version != 3 || p.Available != 13 {
		t.Errorf("product = %+v, %v; want version 3 with 13 available", p, err)
	}
	for name, want := range map[string]float64{
		"shopflow_projection_gaps_total": 1, "shopflow_projection_applied_events_total": 2,
		"shopflow_projection_lag_records": 0, "shopflow_projection_lag_seconds": 0,
		"shopflow_projection_event_to_stored_seconds": 2, // samples: one per applied event
	} {
		if got, ok := metric(t, reg, name, projections.Products); !ok || got != want {
			t.Errorf("%s = %v (reported: %v), want %v", name, got, ok, want)
		}
	}
}

func TestElasticsearchRejectionsAreRetriedWithoutLoss(t *testing.T) {
	env := projectionstest.New(t, 2)
	var bulks, refused atomic.Int64
	env.ES = faultyElastic(t, func(r *http.Request) int {
		if strings.HasSuffix(r.URL.Path, "/_bulk") && bulks.Add(1) <= 4 {
			refused.Add(1)
			return []int{http.StatusTooManyRequests, http.StatusServiceUnavailable}[bulks.Load()%2]
		}
		return 0
	})
	shop := projectionstest.NewShop(9)
	shop.Random(5, 3, 10)
	env.Produce(t, shop.Events...)
	env.StartWorkers(t)
	env.WaitCaughtUp(t)
	if refused.Load() != 4 {
		t.Fatalf("%d bulk requests refused, want 4", refused.Load())
	}
	checkShop(t, shop, snapshots(t, env))
}

// faultyElastic returns a client whose requests go through a proxy to the real server;
// fail returns a status to answer instead (0: forward).
func faultyElastic(t testing.TB, fail func(*http.Request) int) *elasticsearch.Client {
	return testenv.ElasticProxy(t, func(w http.ResponseWriter, r *http.Request) bool {
		status := fail(r)
		if status == 0 {
			return false
		}
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"type":"injected","reason":"injected %d"},"status":%d}`, status, status)
		return true
	})
}

// metric returns the value of a counter or gauge, or the sample count of a histogram, of
// the registry for a projection.
func metric(t testing.TB, reg *prometheus.Registry, name, projection string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if f.GetName() == name && m.GetLabel()[0].GetValue() == projection {
				return m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}
