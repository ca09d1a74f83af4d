package chaos_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/chaos"
	"github.com/shopflow/shopflow/internal/testenv"
)

// TestChaosShortRunThenEachCheckCatchesItsCorruption runs the short fault suite (the one
// make test includes) on a scratch stack of its own, requires every check to pass, then
// corrupts one thing of each kind in that stack's stores and requires the matching check
// to report it: a check that cannot fail proves nothing.
func TestChaosShortRunThenEachCheckCatchesItsCorruption(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a scratch stack of its own and runs for minutes")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	var faults []chaos.Fault
	for _, n := range chaos.ShortFaults {
		f, err := chaos.FaultNamed(n)
		if err != nil {
			t.Fatal(err)
		}
		faults = append(faults, f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	o := chaos.Options{Root: root, StateDir: chaos.DefaultStateDir(root, "test"), SeedStateDir: chaos.SeedDir(root),
		Faults: faults, Gap: 8 * time.Second, Rate: 15, Logf: t.Logf}
	rep, stack, err := chaos.Run(ctx, o)
	if stack != nil {
		t.Cleanup(func() {
			if err := stack.Stop(context.Background()); err != nil {
				t.Logf("stop the scratch stack: %v", err)
			}
		})
	}
	if err != nil {
		if testenv.Required() {
			t.Fatalf("the scratch stack could not run: %v", err)
		}
		t.Skipf("the scratch stack could not run: %v", err)
	}
	var b strings.Builder
	rep.Write(&b)
	t.Log("\n" + b.String())
	if !rep.OK() {
		t.Fatal("the short chaos run failed (report above)")
	}
	stack.StopInstances() // nothing reacts to the corruptions below
	stores, err := chaos.OpenStores(ctx, stack)
	if err != nil {
		t.Fatal(err)
	}
	defer stores.Close()
	c := &corrupter{t: t, ctx: ctx, st: stores, rep: rep}
	c.run(chaos.CheckReadModels, c.deleteOrderDocument)
	c.run(chaos.CheckOnce, c.doubleAppendCapture)
	c.run(chaos.CheckKafka, c.dropKafkaRecord)
	c.run(chaos.CheckFinal, c.placeOrderBehindTheSagasBack)
	c.run(chaos.CheckStock, c.releaseStockTwice)
	c.run(chaos.CheckMoney, c.refundAConfirmedOrder)
	c.run(chaos.CheckAccepted, c.loseADeposit)
	c.run(chaos.CheckDeadLetters, c.deadLetterAGoodRecord)
}

// corrupter damages the stores of a finished run one thing at a time.
type corrupter struct {
	t   *testing.T
	ctx context.Context
	st  *chaos.Stores
	rep *chaos.Report
	// doubled is the account stream doubleAppendCapture damaged: later corruptions leave
	// it alone, lest one undo another (a refund of the same amount would).
	doubled string
}

// results gathers the evidence again and runs the checks.
func (c *corrupter) results() map[string]chaos.Result {
	c.t.Helper()
	ev, err := chaos.Gather(c.ctx, c.st, c.rep.Sent, c.rep.Poison)
	if err != nil {
		c.t.Fatal(err)
	}
	out := map[string]chaos.Result{}
	for _, r := range chaos.Check(ev) {
		out[r.Name] = r
	}
	return out
}

// run applies corrupt, which returns a string naming what it damaged, and requires the
// check to report a new problem that names it.
func (c *corrupter) run(check string, corrupt func() string) {
	c.t.Run(check, func(t *testing.T) {
		before := c.results()[check].Problems
		what := corrupt()
		after := c.results()
		var fresh []string
		for _, p := range after[check].Problems {
			if !slices.Contains(before, p) {
				fresh = append(fresh, p)
			}
		}
		if !slices.ContainsFunc(fresh, func(p string) bool { return strings.Contains(p, what) }) {
			t.Fatalf("after corrupting %s, check %s reports no new problem naming it; new problems: %q", what, check, fresh)
		}
		var others []string
		for name, r := range after {
			if name != check && !r.OK() {
				others = append(others, name)
			}
		}
		slices.Sort(others)
		t.Logf("%s caught %s: %s (checks also failing by now: %v)", check, what, fresh[0], others)
	})
}

func (c *corrupter) queryRow(db, sql string, args ...any) string {
	c.t.Helper()
	var s string
	if err := c.st.DB[db].QueryRow(c.ctx, sql, args...).Scan(&s); err != nil {
		c.t.Fatalf("%s: %v", sql, err)
	}
	return s
}

// deleteOrderDocument deletes one order's document from the orders read model.
func (c *corrupter) deleteOrderDocument() string {
	id := c.queryRow("orders", `SELECT payload->>'order_id' FROM events WHERE event_type = 'OrderConfirmed' LIMIT 1`)
	req, _ := http.NewRequestWithContext(c.ctx, http.MethodDelete, c.st.ES+"/orders/_doc/"+id+"?refresh=true", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		c.t.Fatalf("delete order document %s: %v %v", id, err, res)
	}
	res.Body.Close()
	return "orders document " + id
}

// appendCopy appends a copy of the first event matching where (with a new event id) at
// the end of its stream, optionally with the payload changed, and returns its stream id.
func (c *corrupter) appendCopy(db, where, payload string) string {
	if payload == "" {
		payload = "payload"
	}
	return c.queryRow(db, `INSERT INTO events (stream_id, stream_type, version, event_id, event_type, schema_version, payload, metadata)
		SELECT stream_id, stream_type, (SELECT max(version) + 1 FROM events x WHERE x.stream_id = e.stream_id),
		       gen_random_uuid(), event_type, schema_version, `+payload+`, metadata
		FROM events e WHERE `+where+` ORDER BY position LIMIT 1 RETURNING stream_id`)
}

// doubleAppendCapture appends a second PaymentCaptured of an order to its account.
func (c *corrupter) doubleAppendCapture() string {
	order := c.queryRow("payments", `SELECT payload->>'order_id' FROM events WHERE event_type = 'PaymentCaptured' ORDER BY position LIMIT 1`)
	c.doubled = c.appendCopy("payments", fmt.Sprintf(`event_type = 'PaymentCaptured' AND payload->>'order_id' = '%s'`, order), "")
	return "order " + order
}

// dropKafkaRecord deletes the first record of a partition of inventory.events.
func (c *corrupter) dropKafkaRecord() string {
	adm := kadm.NewClient(c.st.Kafka)
	starts, err := adm.ListStartOffsets(c.ctx, "inventory.events")
	if err != nil {
		c.t.Fatal(err)
	}
	ends, err := adm.ListEndOffsets(c.ctx, "inventory.events")
	if err != nil {
		c.t.Fatal(err)
	}
	var part int32 = -1
	var at int64
	ends.Each(func(o kadm.ListedOffset) {
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok && o.Offset > s.Offset && part < 0 {
			part, at = o.Partition, s.Offset
		}
	})
	first := c.record("inventory.events", part, at)
	o := kadm.Offsets{}
	o.Add(kadm.Offset{Topic: "inventory.events", Partition: part, At: at + 1})
	if res, err := adm.DeleteRecords(c.ctx, o); err != nil || res.Error() != nil {
		c.t.Fatalf("delete records: %v %v", err, res.Error())
	}
	return "event " + first
}

// record returns the event id header of one record.
func (c *corrupter) record(topic string, part int32, at int64) string {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.st.Brokers()...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {part: kgo.NewOffset().At(at)}}))
	if err != nil {
		c.t.Fatal(err)
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(c.ctx)
		if c.ctx.Err() != nil {
			c.t.Fatal(c.ctx.Err())
		}
		for _, r := range fs.Records() {
			for _, h := range r.Headers {
				if h.Key == "event-id" {
					return string(h.Value)
				}
			}
		}
	}
}

// placeOrderBehindTheSagasBack appends an OrderPlaced of a new order straight to the
// orders database, with nothing to settle it (the shopflow processes are stopped).
func (c *corrupter) placeOrderBehindTheSagasBack() string {
	id := c.queryRow("orders", `SELECT gen_random_uuid()::text`)
	c.queryRow("orders", `INSERT INTO events (stream_id, stream_type, version, event_id, event_type, payload)
		SELECT 'order-' || $1, 'order', 1, gen_random_uuid(), 'OrderPlaced', jsonb_set(payload::jsonb, '{order_id}', to_jsonb($1::text))::json
		FROM events WHERE event_type = 'OrderPlaced' LIMIT 1 RETURNING stream_id`, id)
	return "order " + id
}

// releaseStockTwice appends a second StockReleased of a reservation to its product.
func (c *corrupter) releaseStockTwice() string {
	stream := c.appendCopy("inventory", `event_type = 'StockReleased'`, "")
	return "product " + strings.TrimPrefix(stream, "product-")
}

// refundAConfirmedOrder appends a PaymentRefunded to the account of a confirmed order that
// was never refunded (taking the amount of its capture).
func (c *corrupter) refundAConfirmedOrder() string {
	order := c.queryRow("payments", `SELECT payload->>'order_id' FROM events c WHERE event_type = 'PaymentCaptured'
		AND NOT EXISTS (SELECT 1 FROM events r WHERE r.event_type = 'PaymentRefunded' AND r.payload->>'order_id' = c.payload->>'order_id')
		AND stream_id <> $1 ORDER BY position DESC LIMIT 1`, c.doubled)
	stream := c.appendCopy("payments", fmt.Sprintf(`event_type = 'PaymentCaptured' AND payload->>'order_id' = '%s'`, order), "")
	c.queryRow("payments", `UPDATE events SET event_type = 'PaymentRefunded' WHERE stream_id = $1
		AND version = (SELECT max(version) FROM events WHERE stream_id = $1) RETURNING stream_id`, stream)
	return "customer " + strings.TrimPrefix(stream, "account-")
}

// loseADeposit deletes the event of the last deposit the load saw accepted.
func (c *corrupter) loseADeposit() string {
	var last *chaos.Sent
	for _, s := range c.rep.Sent {
		if s.Kind == chaos.KindDeposit && s.Accepted {
			last = s
		}
	}
	c.queryRow("payments", `DELETE FROM events WHERE stream_id = $1 AND version = $2 RETURNING stream_id`,
		"account-"+last.Target, last.Result.Version)
	return fmt.Sprintf("version %d of account-%s", last.Result.Version, last.Target)
}

// deadLetterAGoodRecord produces a dead letter of a record the run did not poison.
func (c *corrupter) deadLetterAGoodRecord() string {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.st.Brokers()...))
	if err != nil {
		c.t.Fatal(err)
	}
	defer cl.Close()
	rec := &kgo.Record{Topic: "payments.dlt", Key: []byte("order-not-poisoned"), Value: []byte(`{}`),
		Headers: []kgo.RecordHeader{{Key: "event-type", Value: []byte("OrderPlaced")}, {Key: "dlt-error", Value: []byte("made up")}}}
	if err := cl.ProduceSync(c.ctx, rec).FirstErr(); err != nil {
		c.t.Fatal(err)
	}
	return "key order-not-poisoned"
}
