package sagas

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/internal/command"
)

// deadlineScanner rejects orders that stayed pending longer than Config.Deadline.
//
// It reads pending_orders (migration 0002), which a trigger on the events table keeps in
// the transaction of every order event: a row from OrderPlaced until the order's first
// OrderConfirmed, OrderRejected or OrderCancelled. Each scan takes a session advisory lock
// of the orders database on its own connection, so with several instances one scans at a
// time (a crashed instance's lock goes with its connection); no row lock is held while the
// rejections are written. Rejecting is idempotent and optimistic: an order confirmed or
// cancelled meanwhile wins its version and the rejection decides again, finding nothing to
// do.
type deadlineScanner struct {
	pool    *pgxpool.Pool
	orders  *command.Repository[*order.Order]
	cfg     Config
	metrics *reactorMetrics
	log     *slog.Logger
	lockKey int64
	failure *atomic.Pointer[error] // the last scan's error, for Reactor.Health
}

func newDeadlineScanner(r *Reactor, store command.EventStore, pool *pgxpool.Pool) (*deadlineScanner, error) {
	orders, err := command.NewRepository(store, command.OrderType(), r.commandConfig())
	if err != nil {
		return nil, err
	}
	h := fnv.New64a()
	h.Write([]byte("shopflow-saga-deadline"))
	return &deadlineScanner{pool: pool, orders: orders, cfg: r.cfg, metrics: r.metrics,
		log: r.log.With("worker", "deadline"), lockKey: int64(h.Sum64()), failure: &r.scanFailure}, nil
}

// run scans every ScanInterval until ctx ends.
func (d *deadlineScanner) run(ctx context.Context) {
	for ctx.Err() == nil {
		err := d.scan(ctx)
		if err != nil && ctx.Err() == nil {
			d.log.Warn("deadline scan failed", "err", err)
			d.failure.Store(&err)
		} else {
			d.failure.Store(nil)
		}
		_ = sleep(ctx, d.cfg.ScanInterval)
	}
}

// scan rejects every overdue order, in batches of ScanBatch, if this instance gets the
// scanner lock.
func (d *deadlineScanner) scan(ctx context.Context) error {
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire: %w", err)
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, d.lockKey).Scan(&locked); err != nil {
		return fmt.Errorf("advisory lock: %w", err)
	}
	if !locked {
		return nil
	}
	defer d.unlock(conn)
	for {
		ids, err := d.overdue(ctx, conn.Conn())
		if err != nil {
			return err
		}
		failed := d.rejectAll(ctx, ids)
		if len(ids) < d.cfg.ScanBatch || failed {
			return nil
		}
	}
}

// unlock releases the scanner lock; a connection that cannot is closed (which releases
// it) rather than returned to the pool still holding it.
func (d *deadlineScanner) unlock(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, d.lockKey); err != nil {
		_ = conn.Conn().Close(ctx)
	}
}

// overdue returns the oldest orders pending for longer than the deadline.
func (d *deadlineScanner) overdue(ctx context.Context, conn *pgx.Conn) ([]string, error) {
	rows, err := conn.Query(ctx, `SELECT order_id FROM pending_orders
		WHERE placed_at < clock_timestamp() - make_interval(secs => $1)
		ORDER BY placed_at LIMIT $2`, d.cfg.Deadline.Seconds(), d.cfg.ScanBatch)
	if err != nil {
		return nil, fmt.Errorf("overdue orders: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("overdue orders: %w", err)
	}
	return ids, nil
}

// rejectAll rejects the orders with reason timeout and reports whether any failed.
func (d *deadlineScanner) rejectAll(ctx context.Context, ids []string) (failed bool) {
	for _, id := range ids {
		if err := d.reject(ctx, id); err != nil {
			if ctx.Err() == nil {
				d.log.Error("timeout rejection failed", "order_id", id, "err", err)
			}
			failed = true
		}
	}
	return failed
}

// DeadlinePrincipal is the principal recorded with a timeout rejection (and, through the
// saga chain, with its compensations): no caller asked for it, the deadline did.
var DeadlinePrincipal = command.Principal{Subject: "shopflow:settlement-deadline"}

// reject rejects one order with reason timeout if it is still pending.
func (d *deadlineScanner) reject(ctx context.Context, orderID string) error {
	var rejected bool
	_, err := d.orders.Update(ctx, orderID, func(o *order.Order) error {
		rejected = o.Status() == order.StatusPending
		return o.Reject(order.ReasonTimeout)
	}, command.Options{Metadata: command.Metadata{Principal: DeadlinePrincipal}})
	switch {
	case err != nil:
		return err
	case rejected:
		d.metrics.timeouts.Inc()
		d.log.Info("order timed out", "order_id", orderID, "deadline", d.cfg.Deadline)
		return nil
	}
	// Settled without its row being removed (only possible if the table was edited by
	// hand): forget it rather than finding it again at every scan.
	if _, err := d.pool.Exec(ctx, `DELETE FROM pending_orders WHERE order_id = $1`, orderID); err != nil {
		return fmt.Errorf("forget settled order: %w", err)
	}
	return nil
}
