package command_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/domain/inventory"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/command"
)

var widget = command.RegisterProduct{SKU: "W-1", Name: "Widget", PriceCents: 250, Currency: "EUR", InitialStock: 10}

// registerProduct registers a product and returns its id.
func registerProduct(t testing.TB, store command.EventStore, p command.RegisterProduct) string {
	t.Helper()
	h := must(command.NewRegisterProductHandler(store, command.Config{}))(t)
	return must(h.Handle(ctx(t), p, command.Options{}))(t).ID
}

// loadProduct reads a product back from the store.
func loadProduct(t testing.TB, store command.EventStore, id string) *inventory.Product {
	t.Helper()
	repo := must(command.NewRepository(store, command.ProductType(), command.Config{}))(t)
	return must(repo.Load(ctx(t), id))(t)
}

func TestRegisterProduct(t *testing.T) {
	d := newDB(t)
	h := must(command.NewRegisterProductHandler(d.store, command.Config{}))(t)
	meta := command.Metadata{CorrelationID: "req-1"}
	res := must(h.Handle(ctx(t), widget, command.Options{Metadata: meta}))(t)
	if _, ok := command.ParseID(res.ID); !ok || res.StreamID != "product-"+res.ID || res.Version != 1 || res.Status != "" {
		t.Fatalf("result = %+v", res)
	}
	events := must(d.store.Load(ctx(t), res.StreamID, 0))(t)
	if len(events) != 1 || events[0].Type != inventory.TypeProductRegistered || events[0].StreamType != "product" {
		t.Fatalf("events = %+v", events)
	}
	if m := events[0].Metadata; m.CorrelationID != "req-1" || m.CausationID != "req-1" {
		t.Errorf("metadata = %+v", m)
	}
	if p := loadProduct(t, d.store, res.ID); p.SKU() != "W-1" || p.Available() != 10 || p.PriceCents() != 250 {
		t.Errorf("product = %+v", p)
	}
}

// A product's SKU is unique, ignoring case and surrounding white space: a second product
// with it is refused, naming the field and the product that holds it, and nothing is
// written.
func TestRegisterProductRefusesATakenSKU(t *testing.T) {
	d := newDB(t)
	first := registerProduct(t, d.store, widget)
	h := must(command.NewRegisterProductHandler(d.store, command.Config{}))(t)
	again := widget
	again.SKU, again.Name = " w-1\t", "Another widget"
	_, err := h.Handle(ctx(t), again, command.Options{})
	var taken *command.TakenError
	if !errors.As(err, &taken) || !errors.Is(err, eventstore.ErrValueTaken) {
		t.Fatalf("err = %v, want a *command.TakenError", err)
	}
	if taken.Field != "sku" || taken.Value != "w-1" || taken.HeldBy != first {
		t.Fatalf("TakenError = %+v, want sku w-1 held by %s", taken, first)
	}
	var products int
	if err := d.pool.QueryRow(ctx(t), `SELECT count(DISTINCT stream_id) FROM events WHERE stream_type = 'product'`).Scan(&products); err != nil || products != 1 {
		t.Fatalf("%d product streams (%v), want the first one only", products, err)
	}
	other := widget
	other.SKU = "W-2"
	registerProduct(t, d.store, other) // another SKU is free
}

func TestRegisterProductValidation(t *testing.T) {
	d := newDB(t)
	h := must(command.NewRegisterProductHandler(d.store, command.Config{}))(t)
	bad := command.RegisterProduct{SKU: " ", PriceCents: -1, Currency: "eur", InitialStock: -1}
	_, err := h.Handle(ctx(t), bad, command.Options{})
	wantFields(t, err, "sku", "name", "price_cents", "currency", "initial_stock")
	wantFields(t, bad.Validate(), "sku", "name", "price_cents", "currency", "initial_stock")
	if widget.Validate() != nil {
		t.Errorf("Validate(valid) = %v", widget.Validate())
	}
	if n := d.countEvents(t); n != 0 {
		t.Errorf("%d events stored", n)
	}
}

func TestRestockProduct(t *testing.T) {
	d := newDB(t)
	id := registerProduct(t, d.store, widget)
	h := must(command.NewRestockProductHandler(d.store, command.Config{}))(t)

	res := must(h.Handle(ctx(t), command.RestockProduct{ProductID: id, Quantity: 5}, command.Options{}))(t)
	wantVersion(t, res, 2)
	if p := loadProduct(t, d.store, id); p.Available() != 15 {
		t.Errorf("available = %d, want 15", p.Available())
	}

	t.Run("upper-case id is the same product", func(t *testing.T) {
		upper := must(uuid.Parse(id))(t).String()
		res := must(h.Handle(ctx(t), command.RestockProduct{ProductID: toUpper(upper), Quantity: 1}, command.Options{}))(t)
		if res.ID != id {
			t.Errorf("id = %s, want %s", res.ID, id)
		}
	})
	t.Run("invalid input", func(t *testing.T) {
		_, err := h.Handle(ctx(t), command.RestockProduct{ProductID: "nope", Quantity: 1}, command.Options{})
		wantFields(t, err, "product_id")
		_, err = h.Handle(ctx(t), command.RestockProduct{ProductID: id, Quantity: 0}, command.Options{})
		wantFields(t, err, "quantity")
	})
	t.Run("not found", func(t *testing.T) {
		_, err := h.Handle(ctx(t), command.RestockProduct{ProductID: uuid.NewString(), Quantity: 1}, command.Options{})
		var nf *command.NotFoundError
		if !errors.Is(err, domain.ErrNotFound) || !errors.As(err, &nf) || nf.Type != "product" {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("rule violation", func(t *testing.T) {
		_, err := h.Handle(ctx(t), command.RestockProduct{ProductID: id, Quantity: inventory.MaxStock}, command.Options{})
		if !errors.Is(err, inventory.ErrStockLimit) {
			t.Errorf("err = %v, want %v", err, inventory.ErrStockLimit)
		}
	})
	if n := d.countEvents(t); n != 3 {
		t.Errorf("%d events stored, want 3", n)
	}
}

func toUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// TestConcurrentRestocks runs many restocks of one product at once: each conflict is
// caused by another restock's success, so with MaxAttempts >= N all of them succeed.
func TestConcurrentRestocks(t *testing.T) {
	const n = 16
	d := newDB(t)
	id := registerProduct(t, d.store, widget)
	h := must(command.NewRestockProductHandler(d.store, command.Config{MaxAttempts: n}))(t)

	start := make(chan struct{})
	versions := make([]int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			res, err := h.Handle(context.Background(), command.RestockProduct{ProductID: id, Quantity: int64(i + 1)}, command.Options{})
			if err != nil {
				t.Errorf("restock %d: %v", i, err)
			}
			versions[i] = res.Version
		})
	}
	close(start)
	wg.Wait()

	slices.Sort(versions)
	for i, v := range versions {
		if v != int64(i+2) {
			t.Fatalf("versions = %v, want 2..%d once each", versions, n+1)
		}
	}
	if p := loadProduct(t, d.store, id); p.Available() != widget.InitialStock+n*(n+1)/2 || p.Version() != n+1 {
		t.Errorf("available = %d at version %d", p.Available(), p.Version())
	}
}

// racingStore appends a competing restock before every Write it forwards, so that every
// attempt of a handler meets a real version conflict in Postgres.
type racingStore struct {
	*eventstore.Store
	productID string
	writes    atomic.Int32
}

func (s *racingStore) Write(ctx context.Context, w eventstore.Write) (map[string]int64, error) {
	s.writes.Add(1)
	events, err := s.Store.Load(ctx, "product-"+s.productID, 0)
	if err != nil {
		return nil, err
	}
	payload := []byte(`{"product_id":"` + s.productID + `","quantity":1}`)
	if _, err := s.Store.Append(ctx, "product-"+s.productID, "product", int64(len(events)),
		eventstore.EventData{Type: inventory.TypeStockAdded, Payload: payload}); err != nil {
		return nil, err
	}
	return s.Store.Write(ctx, w)
}

func TestConflictAfterLastAttempt(t *testing.T) {
	d := newDB(t)
	id := registerProduct(t, d.store, widget)
	racing := &racingStore{Store: d.store, productID: id}
	h := must(command.NewRestockProductHandler(racing, command.Config{MaxAttempts: 3}))(t)

	_, err := h.Handle(ctx(t), command.RestockProduct{ProductID: id, Quantity: 100}, command.Options{})
	if !errors.Is(err, eventstore.ErrVersionConflict) {
		t.Fatalf("err = %v, want a version conflict", err)
	}
	if n := racing.writes.Load(); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	if p := loadProduct(t, d.store, id); p.Available() != widget.InitialStock+3 {
		t.Errorf("available = %d: the handler's restock was written", p.Available())
	}
}

func TestConfigValidate(t *testing.T) {
	for name, cfg := range map[string]command.Config{
		"negative attempts": {MaxAttempts: -1},
		"negative backoff":  {Backoff: -1},
		"backoff over max":  {Backoff: 200 * 1e6, MaxBackoff: 100 * 1e6},
	} {
		if _, err := command.NewRestockProductHandler(&eventstore.Store{}, cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := command.NewRestockProductHandler(nil, command.Config{}); err == nil {
		t.Error("nil store: no error")
	}
}
