package pii

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Errors of Keys.Get.
var (
	// ErrNoKey: the customer never had a key (an account opened before personal data was
	// sealed, whose events hold it in clear).
	ErrNoKey = errors.New("pii: no key for customer")
	// ErrForgotten: the customer's key was destroyed; what was sealed under it is gone.
	ErrForgotten = errors.New("pii: customer forgotten")
)

// Keys is the only access path to customer keys. Implementations are safe for concurrent
// use.
type Keys interface {
	// Create stores a new key for the customer and returns it. If the customer has a key,
	// that one is returned; if it was destroyed, the error wraps ErrForgotten.
	Create(ctx context.Context, customerID string) ([]byte, error)
	// Get returns the customer's key, or an error wrapping ErrNoKey or ErrForgotten.
	Get(ctx context.Context, customerID string) ([]byte, error)
	// Destroy destroys the customer's key for good, leaving a record that it was
	// destroyed; destroying a destroyed or missing key is not an error (the record is
	// written all the same, so a customer from before sealing reads as forgotten too).
	Destroy(ctx context.Context, customerID string) error
}

// Store is the Postgres implementation of Keys, on the payments database (table
// customer_keys). Safe for concurrent use.
type Store struct{ pool *pgxpool.Pool }

// NewStore returns a key store on pool, whose schema eventstore.Migrate created.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

var _ Keys = (*Store)(nil)

// createSQL inserts a key unless the customer has a row, and returns the row's key either
// way (NULL when destroyed) in one statement: the outer SELECT does not see the insert.
const createSQL = `WITH ins AS (
    INSERT INTO customer_keys (customer_id, key) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING key)
SELECT key FROM ins
UNION ALL
SELECT key FROM customer_keys WHERE customer_id = $1 AND NOT EXISTS (SELECT 1 FROM ins)`

// Create implements Keys. It is one round trip: a pipelined batch, which Postgres runs as
// one implicit transaction, that commits without waiting for the disk (synchronous_commit
// off for this transaction only, set_config's is_local): a new key is durable once any
// later synchronous commit on the payments database is — such as the append of the
// AccountOpened sealed under it, since Postgres flushes its write-ahead log in order. A
// crash before that loses only a key that nothing is sealed under yet. It saves a disk
// flush, and three round trips of an explicit transaction, per account opened.
func (s *Store) Create(ctx context.Context, customerID string) ([]byte, error) {
	key, err := NewKey()
	if err != nil {
		return nil, err
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('synchronous_commit', 'off', true)`)
	var stored []byte
	b.Queue(createSQL, customerID, key).QueryRow(func(row pgx.Row) error { return row.Scan(&stored) })
	err = s.pool.SendBatch(ctx, b).Close()
	switch {
	case err != nil:
		return nil, fmt.Errorf("pii: create key of %s: %w", customerID, err)
	case stored == nil:
		return nil, fmt.Errorf("%w: %s", ErrForgotten, customerID)
	}
	return stored, nil
}

// Get implements Keys.
func (s *Store) Get(ctx context.Context, customerID string) ([]byte, error) {
	var key []byte
	err := s.pool.QueryRow(ctx, `SELECT key FROM customer_keys WHERE customer_id = $1`, customerID).Scan(&key)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("%w %s", ErrNoKey, customerID)
	case err != nil:
		return nil, fmt.Errorf("pii: get key of %s: %w", customerID, err)
	case key == nil:
		return nil, fmt.Errorf("%w: %s", ErrForgotten, customerID)
	}
	return key, nil
}

// Destroy implements Keys. The key's bytes are overwritten by NULL in the row; Postgres
// keeps the old row version until vacuum reclaims it (and the write-ahead log until it is
// recycled), as for any deleted data.
func (s *Store) Destroy(ctx context.Context, customerID string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO customer_keys (customer_id, key, destroyed_at) VALUES ($1, NULL, clock_timestamp())
ON CONFLICT (customer_id) DO UPDATE SET key = NULL, destroyed_at = coalesce(customer_keys.destroyed_at, clock_timestamp())`,
		customerID)
	if err != nil {
		return fmt.Errorf("pii: destroy key of %s: %w", customerID, err)
	}
	return nil
}
