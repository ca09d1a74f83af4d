package command_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/command"
	"github.com/shopflow/shopflow/internal/testenv"
)

// db is one migrated service database of a test.
type db struct {
	store *eventstore.Store
	pool  *pgxpool.Pool
}

// newDB returns an event store on a fresh, migrated database, closed and dropped when
// the test ends.
func newDB(t testing.TB) db {
	t.Helper()
	es := testenv.NewEventStore(t)
	return db{store: es.Store, pool: es.Pool}
}

// ctx returns a context that ends with the test (or after a minute).
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// must returns v, failing the test on err: must(f())(t).
func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// eventTypes returns the event types of a stream, oldest first.
func (d db) eventTypes(t testing.TB, streamID string) []string {
	t.Helper()
	var types []string
	for _, e := range must(d.store.Load(ctx(t), streamID, 0))(t) {
		types = append(types, e.Type)
	}
	return types
}

// countEvents returns how many events the database holds.
func (d db) countEvents(t testing.TB) int {
	t.Helper()
	var n int
	if err := d.pool.QueryRow(ctx(t), `SELECT count(*) FROM events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// wantFields checks that err is a *domain.ValidationError naming exactly fields (in any order).
func wantFields(t testing.TB, err error, fields ...string) {
	t.Helper()
	var ve *domain.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want a validation error", err)
	}
	var got []string
	for _, f := range ve.Fields {
		got = append(got, f.Field)
	}
	slices.Sort(got)
	slices.Sort(fields)
	if !slices.Equal(got, fields) {
		t.Errorf("invalid fields = %v, want %v (%v)", got, fields, err)
	}
}

// wantVersion checks a result's version.
func wantVersion(t testing.TB, res command.Result, version int64) {
	t.Helper()
	if res.Version != version {
		t.Errorf("version = %d, want %d", res.Version, version)
	}
}
