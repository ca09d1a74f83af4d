package projections

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/eventstore"
)

func TestCursorRoundTripAndTampering(t *testing.T) {
	q := OrderQuery{Text: "kettle", Statuses: []string{"pending"}}
	c := Cursor{Query: q.fingerprint(), Values: []json.RawMessage{json.RawMessage(`1.5`), json.RawMessage(`"0f8e"`)}}
	parsed, err := ParseCursor(c.String())
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if _, err := sortFor(orderSorts, q.sortName(), &parsed, q.fingerprint()); err != nil {
		t.Errorf("own cursor refused: %v", err)
	}
	other := q
	other.Statuses = []string{"confirmed"}
	cases := map[string]func() error{
		"other query": func() error {
			_, err := sortFor(orderSorts, other.sortName(), &parsed, other.fingerprint())
			return err
		},
		"not base64": func() error { _, err := ParseCursor("%%%"); return err },
		"not json":   func() error { _, err := ParseCursor("bm90IGpzb24"); return err },
		"value of the wrong type": func() error {
			bad := Cursor{Query: q.fingerprint(), Values: []json.RawMessage{json.RawMessage(`"x"`), json.RawMessage(`"y"`)}}
			_, err := sortFor(orderSorts, q.sortName(), &bad, q.fingerprint())
			return err
		},
		"too large for a long": func() error {
			byDate := OrderQuery{}
			bad := Cursor{Query: byDate.fingerprint(), Values: []json.RawMessage{json.RawMessage(`1e30`), json.RawMessage(`"y"`)}}
			_, err := sortFor(orderSorts, byDate.sortName(), &bad, byDate.fingerprint())
			return err
		},
	}
	for name, fn := range cases {
		t.Run(name, func(t *testing.T) {
			if err := fn(); !errors.Is(err, ErrBadCursor) {
				t.Errorf("err = %v, want ErrBadCursor", err)
			}
		})
	}
}

func TestSearchBodiesNeverParseUserText(t *testing.T) {
	text := `name:x OR _exists_:id AND "quoted" \ (`
	min := int64(5)
	bodies := []map[string]any{
		OrderQuery{Text: text, MinTotalCents: &min}.body(orderSorts["relevance"], 20),
		ProductQuery{Text: text}.body(productSorts["relevance"], 20),
	}
	for _, b := range bodies {
		data, _ := json.Marshal(b)
		s := string(data)
		if strings.Contains(s, "query_string") || strings.Contains(s, "simple_query_string") {
			t.Errorf("body parses query syntax: %s", s)
		}
		if !strings.Contains(s, `"multi_match"`) {
			t.Errorf("body has no multi_match: %s", s)
		}
	}
}

func TestOrderVersionsOrderJoinsAndEvents(t *testing.T) {
	placed := order.OrderPlaced{OrderID: "o", CustomerID: "c", Lines: []order.Line{{ProductID: "p1", Quantity: 1}, {ProductID: "p2", Quantity: 1}}}
	d := &orderDoc{Order: Order{ID: "o"}}
	d.apply(eventstore.Envelope{Version: 1, RecordedAt: time.Now()}, placed)
	bare := d.esVersion()
	d.join(map[string]refData{productRef("p1"): {Name: "Kettle", SKU: "K-1"}})
	oneRef := d.esVersion()
	d.join(map[string]refData{customerRef("c"): {Name: "Ada", Email: "ada@example.com"}, productRef("p2"): {Name: "Lamp"}})
	complete := d.esVersion()
	if !(bare < oneRef && oneRef < complete) || len(d.missing()) != 0 {
		t.Errorf("versions bare %d, one reference %d, complete %d, missing %v", bare, oneRef, complete, d.missing())
	}
	next := &orderDoc{Order: Order{ID: "o"}}
	next.apply(eventstore.Envelope{Version: 1}, placed)
	next.apply(eventstore.Envelope{Version: 2}, order.OrderRejected{OrderID: "o", Reason: order.ReasonTimeout})
	if next.esVersion() <= complete {
		t.Errorf("an unjoined version 2 (%d) must beat a fully joined version 1 (%d)", next.esVersion(), complete)
	}
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	err := Config{IndexPrefix: "Bad Prefix", BatchSize: -1, Shards: -2}.Validate()
	for _, want := range []string{"Brokers", "IndexPrefix", "BatchSize", "Shards"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want a problem with %s", err, want)
		}
	}
	if err := (Config{Brokers: []string{"localhost:9092"}}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func TestMappingsAreValidJSON(t *testing.T) {
	for name, m := range models() {
		var v map[string]any
		if err := json.Unmarshal([]byte(m.mapping()), &v); err != nil || v["dynamic"] != "strict" {
			t.Errorf("%s mapping: %v", name, err)
		}
	}
}
