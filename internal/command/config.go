package command

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/pii"
)

// Defaults of Config.
const (
	DefaultMaxAttempts = 5
	DefaultBackoff     = 2 * time.Millisecond
	DefaultMaxBackoff  = 50 * time.Millisecond
	DefaultCacheSize   = 10_000
	// DefaultSnapshotEvery is Config.SnapshotEvery's default. Measured on a development
	// machine (cmd/shopflow-bench hot_load), applying a product event on a load costs about
	// 5 µs and a load of a 10-event product about 0.3 ms, so a tail of at most 50 events
	// keeps the coldest load of any product within about twice that; a snapshot write (one
	// short statement) per 50 events is noise next to the 50 appends.
	DefaultSnapshotEvery = 50
)

// Config tunes the handlers. The zero value gives the defaults.
type Config struct {
	// MaxAttempts bounds how often a command is decided and appended when its stream moved
	// concurrently (eventstore.ErrVersionConflict). 0 means DefaultMaxAttempts. N
	// concurrent commands on one stream all succeed when MaxAttempts >= N, since every
	// failed attempt is caused by another command's success.
	MaxAttempts int
	// Backoff bounds the wait before the second attempt; before attempt n+1 the handler
	// waits a random duration in [0, min(Backoff·2^(n-1), MaxBackoff)] (full jitter).
	// 0 means DefaultBackoff.
	Backoff time.Duration
	// MaxBackoff caps the wait between attempts. 0 means DefaultMaxBackoff.
	MaxBackoff time.Duration
	// Now returns the time recorded in events such as OrderPlaced. nil means time.Now.
	Now func() time.Time
	// CacheSize is how many aggregates a Repository keeps between commands, for aggregate
	// types that can catch up with their stream (AggregateType.Advance): a kept aggregate
	// loads only the events after its version. 0 means DefaultCacheSize; negative, none.
	CacheSize int
	// SnapshotEvery is how many events a stream may grow past its newest snapshot before a
	// Repository takes a new one, for aggregate types that have a snapshot codec
	// (AggregateType.Snapshot): a load of an aggregate that is not kept then reads the
	// snapshot and at most about that many events. Small values cost more snapshot writes
	// (one short statement each, after the command's commit); large ones, longer cold
	// loads. 0 means DefaultSnapshotEvery; negative, no snapshots are read or taken.
	SnapshotEvery int
	// Keys, for the payments handlers, holds the customers' keys: OpenAccount seals name
	// and email under a new key of the customer's (package pii), ForgetCustomer destroys
	// it. nil stores personal data in clear, as releases before sealing did (the
	// benchmarks measure sealing's cost against it; shopflow serve always sets it), and
	// makes ForgetCustomer fail.
	Keys pii.Keys
}

// Validate reports every invalid setting, joined.
func (c Config) Validate() error {
	var errs []error
	if c.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("command: MaxAttempts %d is negative", c.MaxAttempts))
	}
	if c.Backoff < 0 || c.MaxBackoff < 0 {
		errs = append(errs, errors.New("command: Backoff and MaxBackoff must not be negative"))
	}
	if d := c.withDefaults(); d.Backoff > d.MaxBackoff {
		errs = append(errs, fmt.Errorf("command: Backoff %v exceeds MaxBackoff %v", d.Backoff, d.MaxBackoff))
	}
	return errors.Join(errs...)
}

// withDefaults fills the zero settings with their defaults.
func (c Config) withDefaults() Config {
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.Backoff == 0 {
		c.Backoff = DefaultBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.SnapshotEvery == 0 {
		c.SnapshotEvery = DefaultSnapshotEvery
	}
	return c
}

// backoff returns the jittered wait before attempt n+1 (n >= 1).
func (c Config) backoff(n int) time.Duration {
	limit := c.MaxBackoff
	if n < 32 && c.Backoff<<(n-1) < limit {
		limit = c.Backoff << (n - 1)
	}
	if limit <= 0 {
		return 0
	}
	return rand.N(limit + 1)
}

// Retry runs attempt until it returns anything but an error wrapping
// eventstore.ErrVersionConflict, at most cfg.MaxAttempts times (zero settings take their
// defaults), waiting a jittered backoff between attempts. Each attempt must reload what it
// decides on. It returns attempt's last error; after the last attempt a conflict is
// returned wrapped, still matching eventstore.ErrVersionConflict. If ctx ends while
// waiting, the error wraps both ctx.Err() and the last conflict.
func Retry(ctx context.Context, cfg Config, attempt func(context.Context) error) error {
	cfg = cfg.withDefaults()
	var err error
	for n := 1; n <= cfg.MaxAttempts; n++ {
		if n > 1 {
			if werr := sleep(ctx, cfg.backoff(n-1)); werr != nil {
				return fmt.Errorf("%w (retrying after: %w)", werr, err)
			}
		}
		if err = attempt(ctx); !errors.Is(err, eventstore.ErrVersionConflict) {
			return err
		}
	}
	return fmt.Errorf("after %d attempts: %w", cfg.MaxAttempts, err)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
