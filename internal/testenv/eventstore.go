package testenv

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/postgres"
)

// EventStore is a test's own service database, migrated, with a store on it.
type EventStore struct {
	Store *eventstore.Store
	Pool  *pgxpool.Pool
	URL   string
}

// NewEventStore creates a fresh database (see Database), migrates it and opens a pool and a
// store on it; all are closed and the database dropped when the test ends. query, if given,
// is appended to the pool's URL (e.g. "pool_max_conns=40").
func NewEventStore(t testing.TB, query ...string) EventStore {
	t.Helper()
	url := Database(t)
	if err := eventstore.Migrate(url); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	poolURL := url
	for i, q := range query {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		poolURL += sep + q
	}
	pool, err := postgres.Open(ctx(t), poolURL)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(pool.Close)
	store := eventstore.New(pool)
	t.Cleanup(store.Close)
	return EventStore{Store: store, Pool: pool, URL: url}
}
