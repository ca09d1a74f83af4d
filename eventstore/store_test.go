package eventstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/testenv"
)

// newStore returns a store on a fresh, migrated database.
func newStore(t testing.TB) (*eventstore.Store, *pgxpool.Pool, string) {
	t.Helper()
	es := testenv.NewEventStore(t, "pool_max_conns=40")
	return es.Store, es.Pool, es.URL
}

func ev(typ string, n int) eventstore.EventData {
	return eventstore.EventData{Type: typ, Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}
}

func TestAppendAndLoad(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	first := ev("Opened", 1)
	first.Metadata = eventstore.Metadata{CorrelationID: "c-1", TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	v, err := s.Append(ctx, "s-1", "account", 0, first, ev("Deposited", 2))
	if err != nil || v != 2 {
		t.Fatalf("Append = %d, %v; want 2, nil", v, err)
	}
	if v, err = s.Append(ctx, "s-1", "account", 2, ev("Deposited", 3)); err != nil || v != 3 {
		t.Fatalf("second Append = %d, %v; want 3, nil", v, err)
	}
	evs, err := s.Load(ctx, "s-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 {
		t.Fatalf("loaded %d events, want 3", len(evs))
	}
	for i, e := range evs {
		if e.Version != int64(i+1) || e.StreamType != "account" || e.SchemaVersion != 1 || e.ID.Version() != 7 {
			t.Errorf("event %d: %+v", i, e)
		}
	}
	if !reflect.DeepEqual(evs[0].Metadata, first.Metadata) {
		t.Errorf("metadata = %+v, want %+v", evs[0].Metadata, first.Metadata)
	}
	if tail, _ := s.Load(ctx, "s-1", 2); len(tail) != 1 || tail[0].Type != "Deposited" {
		t.Errorf("Load after version 2 = %+v", tail)
	}
}

func TestAppendConflicts(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	if _, err := s.Append(ctx, "s", "t", 0, ev("A", 1)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		expected int64
	}{
		{"stale: the stream moved on", 0},
		{"ahead: the stream has not reached it", 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Append(ctx, "s", "t", c.expected, ev("B", 2))
			if !errors.Is(err, eventstore.ErrVersionConflict) {
				t.Fatalf("err = %v, want ErrVersionConflict", err)
			}
		})
	}
	if evs, _ := s.Load(ctx, "s", 0); len(evs) != 1 {
		t.Fatalf("a conflicting append wrote: %d events", len(evs))
	}
}

func TestInvalidWrite(t *testing.T) {
	s, _, _ := newStore(t)
	_, err := s.Write(context.Background(), eventstore.Write{Appends: []eventstore.StreamAppend{
		{StreamID: "", StreamType: "t", Events: []eventstore.EventData{ev("A", 1)}},
		{StreamID: "x", StreamType: "t", Events: []eventstore.EventData{{Type: "A", Payload: json.RawMessage(`{`)}}},
	}})
	if !errors.Is(err, eventstore.ErrInvalidWrite) {
		t.Fatalf("err = %v, want ErrInvalidWrite", err)
	}
}

// An event too large to ever be published is refused when appended, and nothing is written.
func TestAnEventTooLargeToPublishIsRefused(t *testing.T) {
	s, _, _ := newStore(t)
	big := json.RawMessage(`"` + strings.Repeat("x", eventstore.MaxPayloadBytes) + `"`)
	_, err := s.Append(context.Background(), "big-1", "t", 0, ev("A", 1), eventstore.EventData{Type: "A", Payload: big})
	if !errors.Is(err, eventstore.ErrEventTooLarge) {
		t.Fatalf("err = %v, want ErrEventTooLarge", err)
	}
	if got, err := s.Load(context.Background(), "big-1", 0); err != nil || len(got) != 0 {
		t.Fatalf("stream after the refusal = %d events, %v; want none", len(got), err)
	}
	fits := json.RawMessage(`"` + strings.Repeat("x", eventstore.MaxPayloadBytes-2) + `"`)
	if _, err := s.Append(context.Background(), "big-1", "t", 0, eventstore.EventData{Type: "A", Payload: fits}); err != nil {
		t.Fatalf("a payload of MaxPayloadBytes: %v", err)
	}
}

// Many writers race for each version of one stream: exactly one wins each, none is lost.
func TestConcurrentWritersOneWinsEachVersion(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	const writers, attempts = 16, 25
	wins := make([]map[int64]bool, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wins[w] = map[int64]bool{}
		wg.Go(func() {
			for range attempts {
				evs, err := s.Load(ctx, "hot", 0)
				if err != nil {
					t.Error(err)
					return
				}
				head := int64(len(evs))
				v, err := s.Append(ctx, "hot", "t", head, ev("Tick", w))
				switch {
				case err == nil:
					wins[w][v] = true
				case !errors.Is(err, eventstore.ErrVersionConflict):
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	winners := map[int64]int{}
	for _, m := range wins {
		for v := range m {
			winners[v]++
		}
	}
	evs, err := s.Load(ctx, "hot", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != len(winners) {
		t.Fatalf("stream has %d events, writers saw %d wins", len(evs), len(winners))
	}
	for i, e := range evs {
		if e.Version != int64(i+1) || winners[e.Version] != 1 {
			t.Fatalf("version %d: %d winners", e.Version, winners[e.Version])
		}
	}
	if len(evs) < attempts {
		t.Errorf("only %d appends won out of %d×%d attempts", len(evs), writers, attempts)
	}
}

func TestInboxMakesRedeliveryANoOp(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	w := eventstore.Write{
		Inbox:   &eventstore.InboxEntry{Consumer: "payments-saga", MessageID: "orders.events/0/42"},
		Appends: []eventstore.StreamAppend{{StreamID: "acc", StreamType: "account", Events: []eventstore.EventData{ev("Captured", 1)}}},
	}
	if _, err := s.Write(ctx, w); err != nil {
		t.Fatal(err)
	}
	w.Appends[0].ExpectedVersion = 1 // even a write that would otherwise succeed
	if _, err := s.Write(ctx, w); !errors.Is(err, eventstore.ErrAlreadyProcessed) {
		t.Fatalf("redelivery: err = %v, want ErrAlreadyProcessed", err)
	}
	if evs, _ := s.Load(ctx, "acc", 0); len(evs) != 1 {
		t.Fatalf("redelivery wrote: %d events", len(evs))
	}
	// An inbox entry alone records a decision to do nothing.
	if _, err := s.Write(ctx, eventstore.Write{Inbox: &eventstore.InboxEntry{Consumer: "c", MessageID: "m"}}); err != nil {
		t.Fatal(err)
	}
}

func TestIdempotencyKey(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	rec := &eventstore.IdempotencyRecord{Key: "k-1", RequestHash: []byte{1, 2}, Status: 202, Response: json.RawMessage(`{"id":"x"}`)}
	w := eventstore.Write{Idempotency: rec, Appends: []eventstore.StreamAppend{{StreamID: "o", StreamType: "order", Events: []eventstore.EventData{ev("Placed", 1)}}}}
	if _, err := s.Write(ctx, w); err != nil {
		t.Fatal(err)
	}
	w.Appends[0].StreamID = "o2"
	if _, err := s.Write(ctx, w); !errors.Is(err, eventstore.ErrIdempotencyKeyExists) {
		t.Fatalf("reused key: err = %v", err)
	}
	got, err := s.Idempotency(ctx, "k-1")
	if err != nil || got.Status != 202 || string(got.RequestHash) != "\x01\x02" {
		t.Fatalf("Idempotency = %+v, %v", got, err)
	}
	var resp map[string]string
	if err := json.Unmarshal(got.Response, &resp); err != nil || resp["id"] != "x" {
		t.Fatalf("stored response %s: %v", got.Response, err)
	}
	if evs, _ := s.Load(ctx, "o2", 0); len(evs) != 0 {
		t.Fatal("the rejected write appended events")
	}
	if _, err := s.Idempotency(ctx, "nope"); !errors.Is(err, eventstore.ErrNotFound) {
		t.Fatalf("unknown key: %v", err)
	}
}

// A transaction that took its id before a stream's head committed must not append after
// that head: the relay orders by transaction id, and the stream would come out reordered.
func TestHeadWrittenByNewerTransactionIsAConflict(t *testing.T) {
	s, pool, _ := newStore(t)
	ctx := context.Background()
	early, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer early.Rollback(ctx)
	if _, err := early.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil { // takes the older id
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "s", "t", 0, ev("A", 1)); err != nil { // newer id, commits first
		t.Fatal(err)
	}
	_, err = early.Exec(ctx, eventstore.CheckHeadSQL, "s", 1)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "SF409" {
		t.Fatalf("head check in the older transaction: err = %v, want SQLSTATE SF409", err)
	}
	if _, err := early.Exec(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	// A fresh transaction (what a retry gets) passes the same check.
	if _, err := pool.Exec(ctx, eventstore.CheckHeadSQL, "s", 1); err != nil {
		t.Fatalf("head check in a new transaction: %v", err)
	}
}

// ReadAll never passes an event whose transaction is still open, even when later events
// already committed; once it commits, every event is read exactly once.
func TestReadAllWaitsForOpenTransactions(t *testing.T) {
	s, pool, _ := newStore(t)
	ctx := context.Background()
	slow, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Rollback(ctx)
	if _, err := slow.Exec(ctx, `INSERT INTO events (stream_id, stream_type, version, event_id, event_type, payload)
		VALUES ('slow', 't', 1, gen_random_uuid(), 'Slow', '{}')`); err != nil { // the lowest position
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "fast", "t", 0, ev("Fast", 1)); err != nil {
		t.Fatal(err)
	}
	evs, cur, err := s.ReadAll(ctx, eventstore.Cursor{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 0 {
		t.Fatalf("read %d events while an older transaction is open, want 0", len(evs))
	}
	if err := slow.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// Transactions of other tests on the server also hold the horizon back for a moment.
	var all []string
	for deadline := time.Now().Add(10 * time.Second); len(all) < 2 && time.Now().Before(deadline); {
		evs, next, err := s.ReadAll(ctx, cur, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		all, cur = append(all, evs[0].StreamID), next
	}
	if evs, _, _ := s.ReadAll(ctx, cur, 10); len(evs) != 0 {
		t.Fatalf("read %d more events after both", len(evs))
	}
	if !reflect.DeepEqual(all, []string{"slow", "fast"}) {
		t.Fatalf("read %v, want [slow fast] (commit order of their transactions' ids)", all)
	}
}

func claim(scope, value, stream string) eventstore.UniqueValue {
	return eventstore.UniqueValue{Scope: scope, Value: value, StreamID: stream}
}

func create(stream string, unique ...eventstore.UniqueValue) eventstore.Write {
	return eventstore.Write{Unique: unique,
		Appends: []eventstore.StreamAppend{{StreamID: stream, StreamType: "product", Events: []eventstore.EventData{ev("Registered", 1)}}}}
}

// A unique value goes to the first stream that claims it; a later claimant writes nothing
// and learns which stream holds it. The same value in another scope is another value.
func TestUniqueValueGoesToTheFirstClaimant(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	if _, err := s.Write(ctx, create("p-1", claim("product.sku", "sh-1", "p-1"))); err != nil {
		t.Fatal(err)
	}
	_, err := s.Write(ctx, create("p-2", claim("product.sku", "sh-2", "p-2"), claim("product.sku", "sh-1", "p-2")))
	var taken *eventstore.ValueTakenError
	if !errors.As(err, &taken) || !errors.Is(err, eventstore.ErrValueTaken) {
		t.Fatalf("second claim of sh-1: err = %v, want a *ValueTakenError", err)
	}
	if taken.Value != "sh-1" || taken.Scope != "product.sku" || taken.HeldBy != "p-1" {
		t.Fatalf("ValueTakenError = %+v, want product.sku sh-1 held by p-1", taken)
	}
	if evs, _ := s.Load(ctx, "p-2", 0); len(evs) != 0 {
		t.Fatalf("the refused write appended %d events", len(evs))
	}
	// Nothing of the refused write was kept: its other value is still free.
	if _, err := s.Write(ctx, create("p-3", claim("product.sku", "sh-2", "p-3"), claim("account.email", "sh-1", "p-3"))); err != nil {
		t.Fatalf("sh-2, and sh-1 in another scope: %v", err)
	}
	// A write that finds its own stream holding the value was already committed.
	if _, err := s.Write(ctx, create("p-1", claim("product.sku", "sh-1", "p-1"))); !errors.Is(err, eventstore.ErrVersionConflict) {
		t.Fatalf("the first write again: err = %v, want ErrVersionConflict", err)
	}
}

// Claimants racing for one value: exactly one commits.
func TestUniqueValueRaceHasOneWinner(t *testing.T) {
	s, _, _ := newStore(t)
	const racers = 16
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			stream := fmt.Sprintf("racer-%d", i)
			_, errs[i] = s.Write(context.Background(), create(stream, claim("account.email", "ada@example.com", stream)))
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, eventstore.ErrValueTaken):
			t.Errorf("a losing racer: %v, want ErrValueTaken", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d racers committed, want exactly 1", won)
	}
}

func TestUniqueValuesMustBeComplete(t *testing.T) {
	s, _, _ := newStore(t)
	for _, u := range [][]eventstore.UniqueValue{
		{claim("", "v", "s")}, {claim("scope", "", "s")}, {claim("scope", "v", "")},
		{claim("scope", "v", "s"), claim("scope", "v", "s")},
	} {
		if _, err := s.Write(context.Background(), create("s", u...)); !errors.Is(err, eventstore.ErrInvalidWrite) {
			t.Errorf("Unique %+v: err = %v, want ErrInvalidWrite", u, err)
		}
	}
}

// The migration that introduces unique values claims those of the streams already written:
// the first registration of each SKU and email, trimmed and lower-cased.
func TestMigrationClaimsTheValuesOfExistingStreams(t *testing.T) {
	url := testenv.Database(t)
	if err := eventstore.MigrateTo(url, 2); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s := eventstore.New(pool)
	defer s.Close()
	ctx := context.Background()
	registered := func(stream, typ, payload string) {
		t.Helper()
		if _, err := s.Append(ctx, stream, "x", 0, eventstore.EventData{Type: typ, Payload: json.RawMessage(payload)}); err != nil {
			t.Fatal(err)
		}
	}
	registered("product-1", "ProductRegistered", `{"sku":" SH-1 "}`)
	registered("product-2", "ProductRegistered", `{"sku":"sh-1"}`) // a duplicate from before
	registered("account-1", "AccountOpened", `{"email":"Ada@Example.com"}`)
	if err := eventstore.MigrateTo(url, 5); err != nil {
		t.Fatal(err)
	}
	_, err = s.Write(ctx, create("product-3", claim("product.sku", "sh-1", "product-3")))
	var taken *eventstore.ValueTakenError
	if !errors.As(err, &taken) || taken.HeldBy != "product-1" {
		t.Fatalf("claiming an SKU registered before the migration: %v, want it held by product-1", err)
	}
	if _, err := s.Write(ctx, create("account-2", claim("account.email", "ada@example.com", "account-2"))); !errors.Is(err, eventstore.ErrValueTaken) {
		t.Fatalf("claiming an email registered before the migration: %v, want ErrValueTaken", err)
	}
	// Migration 0006 turns the email claims into SHA-256 digests: no address stays in clear.
	if err := eventstore.Migrate(url); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("ada@example.com"))
	if _, err := s.Write(ctx, create("account-3", claim("account.email", hex.EncodeToString(sum[:]), "account-3"))); !errors.Is(err, eventstore.ErrValueTaken) {
		t.Fatalf("claiming the digest of an email registered before migration 0006: %v, want ErrValueTaken", err)
	}
	var clear int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM unique_values WHERE value LIKE '%@%'`).Scan(&clear); err != nil || clear != 0 {
		t.Fatalf("claims holding an address in clear after migration 0006: %d (%v)", clear, err)
	}
}

// Write.Release deletes a stream's claim of a scope, in the write's transaction: the value
// may be claimed again.
func TestReleaseFreesAClaim(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	if _, err := s.Write(ctx, create("account-1", claim("account.email", "digest", "account-1"))); err != nil {
		t.Fatal(err)
	}
	release := eventstore.Write{Appends: []eventstore.StreamAppend{{StreamID: "account-1", StreamType: "product", ExpectedVersion: 1,
		Events: []eventstore.EventData{ev("CustomerForgotten", 2)}}}, Release: []eventstore.UniqueValue{{Scope: "account.email", StreamID: "account-1"}}}
	if _, err := s.Write(ctx, release); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(ctx, create("account-2", claim("account.email", "digest", "account-2"))); err != nil {
		t.Fatalf("claiming a released value: %v", err)
	}
}

// A group commit writes several inbox entries with its appends; one already processed
// fails the whole write and stores nothing.
func TestWriteWithSeveralInboxEntries(t *testing.T) {
	s, pool, _ := newStore(t)
	ctx := context.Background()
	entries := []eventstore.InboxEntry{{Consumer: "c", MessageID: "m1"}, {Consumer: "c", MessageID: "m2"}}
	if _, err := s.Write(ctx, eventstore.Write{Appends: []eventstore.StreamAppend{{StreamID: "s-1", StreamType: "t", Events: []eventstore.EventData{ev("E", 1)}}},
		Inboxes: entries}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Write(ctx, eventstore.Write{Appends: []eventstore.StreamAppend{{StreamID: "s-2", StreamType: "t", Events: []eventstore.EventData{ev("E", 2)}}},
		Inboxes: []eventstore.InboxEntry{{Consumer: "c", MessageID: "m3"}, {Consumer: "c", MessageID: "m2"}}})
	if !errors.Is(err, eventstore.ErrAlreadyProcessed) {
		t.Fatalf("write with a processed entry: %v, want ErrAlreadyProcessed", err)
	}
	var inbox, events int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM inbox), (SELECT count(*) FROM events)`).Scan(&inbox, &events); err != nil {
		t.Fatal(err)
	}
	if inbox != 2 || events != 1 {
		t.Fatalf("inbox %d rows, events %d; want 2 and 1 (the failed write stored nothing)", inbox, events)
	}
}
