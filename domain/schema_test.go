package domain

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// pricedV3 is an event type at schema version 3: "price" became "price_cents" (v2), then a
// money object "price" (v3).
type pricedV3 struct {
	Price Money `json:"price"`
}

func (pricedV3) EventType() string  { return "Priced" }
func (pricedV3) SchemaVersion() int { return 3 }

func renamePrice(p json.RawMessage) (json.RawMessage, error) {
	return json.RawMessage(strings.Replace(string(p), `"price"`, `"price_cents"`, 1)), nil
}

func TestUpcastRunsEveryStepInOrder(t *testing.T) {
	r := NewRegistry()
	RegisterEvent[pricedV3](r, renamePrice, NestMoney("price_cents", "currency", "price"))
	if v := r.SchemaVersion("Priced"); v != 3 {
		t.Fatalf("SchemaVersion = %d, want 3", v)
	}
	want := pricedV3{Price: Money{AmountCents: 7, Currency: "EUR"}}
	for version, payload := range map[int]string{
		0: `{"price":7,"currency":"EUR"}`, 1: `{"price":7,"currency":"EUR"}`,
		2: `{"price_cents":7,"currency":"EUR"}`, 3: `{"price":{"amount_cents":7,"currency":"EUR"}}`,
	} {
		e, err := r.DecodeVersion("Priced", version, []byte(payload))
		if err != nil || !reflect.DeepEqual(e, want) {
			t.Errorf("DecodeVersion(v%d, %s) = %#v, %v; want %#v", version, payload, e, err, want)
		}
	}
	if _, err := r.DecodeVersion("Priced", 4, []byte(`{}`)); !errors.Is(err, ErrSchemaVersion) {
		t.Errorf("a version from a newer release: err = %v, want ErrSchemaVersion", err)
	}
	if _, err := r.DecodeVersion("Priced", 2, []byte(`{"currency":"EUR"}`)); err == nil {
		t.Error("an upcaster's refusal was not returned")
	}
	if r.GoType("Priced") != reflect.TypeFor[pricedV3]() {
		t.Errorf("GoType = %v", r.GoType("Priced"))
	}
}

// A type whose version was raised without an upcaster from the old one could never read
// its stored events: registering it is a wiring mistake that panics at start-up.
func TestRegisterEventNeedsAnUpcasterPerOldVersion(t *testing.T) {
	for _, ups := range [][]Upcaster{nil, {renamePrice}, {renamePrice, renamePrice, renamePrice}, {renamePrice, nil}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("RegisterEvent of a v3 type with %d upcasters did not panic", len(ups))
				}
			}()
			RegisterEvent[pricedV3](NewRegistry(), ups...)
		}()
	}
}

func TestNestMoneyKeepsOtherFields(t *testing.T) {
	got, err := NestMoney("total_cents", "currency", "total")(json.RawMessage(`{"order_id":"o1","total_cents":300,"currency":"EUR","lines":[1]}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"lines":[1],"order_id":"o1","total":{"amount_cents":300,"currency":"EUR"}}`; string(got) != want {
		t.Errorf("upcast = %s, want %s", got, want)
	}
}
