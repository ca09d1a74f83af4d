package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shopflow/shopflow/internal/elastic"
)

// Burst-recovery benchmark settings.
const (
	burstRate   = 100              // orders/s, as in the report
	burstLength = 20 * time.Second // of placing orders
	burstWindow = 10 * time.Second // each CPU window, before and after the burst
	// burstDrain separates the burst's last command from the after window: about four
	// times the saga's settlement p99 target, so the window starts once a healthy stack has
	// settled the burst's last orders, without waiting for a stack that does not.
	burstDrain = 2 * time.Second
	// burstQuiet is what the rig may use in a second (its Postgres backends and this process)
	// for the before window to start: the projection workers have indexed the seeded products
	// and customers, and the relays have answered the seed's notifications. A tenth of a core:
	// a spinning relay's backend uses a whole one, and an idle rig whose every idle check
	// scans the history uses about 0.08. burstQuietWait bounds the wait; a rig never quiet is
	// measured anyway, with a warning.
	burstQuiet     = 0.1 // cpu-s
	burstQuietWait = 90 * time.Second
	// burstHistory is how many events each of the rig's databases holds before the relays
	// start, past their cursors: a store in service for a while. The spin was seen
	// at 87k events, where each idle round's scan cost 53 ms; on an empty database the same
	// rounds cost next to nothing and the spin ends within seconds.
	burstHistory = 100_000
	// cpuFloor floors every before-baseline: an idle stack may use next to no CPU in ten
	// seconds, and a ratio against nearly zero says nothing. One percent of a core: the
	// idle rig's bench process uses 0.07 to 0.13 cpu-s per window, Postgres's own backends
	// 0.02 to 0.03, and /proc counts in hundredths, so a lower floor leaves the ratio to a
	// few ticks' noise; a spinning relay costs tens of times more.
	cpuFloor = 0.1 // cpu-s
)

// benchBurstRecovery measures whether an idle stack is as idle after a burst as before it:
// the CPU seconds Postgres (every server process: the postmaster and all its children) and
// this process (which hosts the rig's relays, reactors and projection workers) use in the
// burstWindow after a burst of burstRate orders/s for burstLength through the whole
// pipeline, against the burstWindow before it on the same rig, once quiet. The after window
// starts burstDrain after the burst's last command, whether or not its orders have settled:
// the figure is the CPU of the ten seconds after the burst, and orders still
// settling then are work a recovered stack would have finished. Baselines are floored at
// cpuFloor. Postgres is shared, so anything else using it (tests, shopflow serve) adds to
// both windows: run it on a quiet machine, or read the rig's own backends' figure.
func benchBurstRecovery(ctx context.Context, o options) error {
	o.history = burstHistory
	rig, err := newSagaRig(ctx, o)
	if err != nil {
		return err
	}
	defer rig.close()
	if err := rig.startReadSide(ctx, o); err != nil {
		return err
	}
	res, err := rig.measureBurst(ctx, o)
	if err != nil {
		return err
	}
	res.report()
	return nil
}

// burstResult is what one burst_recovery run measured.
type burstResult struct {
	before, after                   cpuSample
	placed, settledAtStart, settled int // orders of the burst; settled by the after window's start and end
}

// measureBurst waits for a quiet rig, then measures the window before, the burst and the
// window after.
func (r *sagaRig) measureBurst(ctx context.Context, o options) (burstResult, error) {
	var res burstResult
	clockTicks() // runs getconf now rather than inside a window
	dbs := r.databases()
	if err := waitQuiet(ctx, dbs); err != nil {
		return res, err
	}
	var err error
	if res.before, err = cpuOver(ctx, burstWindow, dbs); err != nil {
		return res, err
	}
	ids, err := r.burst(ctx, o)
	if err != nil {
		return res, err
	}
	if !sleepCtx(ctx, burstDrain) {
		return res, ctx.Err()
	}
	res.placed, res.settledAtStart = len(ids), r.countSettled(ids)
	if res.after, err = cpuOver(ctx, burstWindow, dbs); err != nil {
		return res, err
	}
	res.settled = r.countSettled(ids)
	return res, nil
}

// report prints the BENCH lines, and on stderr the raw figures. burst_recovery_pg_rig_cpu is
// the part of burst_recovery_pg_cpu that the rig's own backends used: the figure that other
// users of a shared Postgres (tests, shopflow serve) do not blur.
func (res burstResult) report() {
	b, a := res.before, res.after
	fmt.Fprintf(os.Stderr, "burst_recovery: unfloored cpu-s before: pg=%.2f (rig's backends %.2f) app=%.2f; "+
		"%d of %d orders settled when the after window started\n", b.pg, b.rigPG, b.app, res.settledAtStart, res.placed)
	report("burst_recovery_cpu", a.total(), "cpu-s", max(b.total(), cpuFloor))
	report("burst_recovery_pg_cpu", a.pg, "cpu-s", max(b.pg, cpuFloor))
	report("burst_recovery_pg_rig_cpu", a.rigPG, "cpu-s", max(b.rigPG, cpuFloor))
	report("burst_recovery_app_cpu", a.app, "cpu-s", max(b.app, cpuFloor))
	report("burst_recovery_settled", float64(res.settled), "orders", float64(res.placed))
}

// startReadSide runs the projection workers, as shopflow serve does, and waits until their
// read models exist.
func (r *sagaRig) startReadSide(ctx context.Context, o options) error {
	es, err := elastic.NewClient(o.cfg.ElasticsearchURLs, o.cfg.Elasticsearch.Security())
	if err != nil {
		return err
	}
	pcfg, err := r.startProjections(ctx, o, es)
	if err != nil {
		return err
	}
	srv, err := readServer(es, pcfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	return waitReadModels(ctx, srv.URL)
}

// preloadHistory fills a context's fresh database with n events (see burstHistory) of a
// type nothing reacts to (an OrderPlaced would enter pending_orders and the deadline
// scanner would try to reject it at every scan) and
// moves its relay's cursor past them, then vacuums and analyzes the table as autovacuum
// would have done long ago, so that autovacuum does not run inside a measured window.
func (r *sagaRig) preloadHistory(ctx context.Context, n int, c string) error {
	if n == 0 {
		return nil
	}
	pool := r.pools[c]
	if err := preloadAs(ctx, pool, n, "bench_history", "BenchHistoryRecorded"); err != nil {
		return err
	}
	_, err := pool.Exec(ctx, `INSERT INTO relay_cursors (name, transaction_id, position)
		SELECT $1, transaction_id, position FROM events ORDER BY transaction_id DESC, position DESC LIMIT 1`, r.topic(c))
	if err == nil {
		_, err = pool.Exec(ctx, `VACUUM ANALYZE events`)
	}
	if err != nil {
		return fmt.Errorf("history of %s: %w", c, err)
	}
	return nil
}

// databases names the rig's databases.
func (r *sagaRig) databases() []string {
	var dbs []string
	for _, pool := range r.pools {
		dbs = append(dbs, pool.Config().ConnConfig.Database)
	}
	return dbs
}

// burst places orders at burstRate for burstLength and returns their ids; it returns when
// the last command has been sent.
func (r *sagaRig) burst(ctx context.Context, o options) ([]string, error) {
	o.rate, o.duration = burstRate, burstLength
	var mu sync.Mutex
	var ids []string
	var seq atomic.Int64
	err := paced(ctx, o, func(_, _ int) error {
		id, err := r.placeOrder(ctx, int(seq.Add(1)))
		mu.Lock()
		ids = append(ids, id)
		mu.Unlock()
		return err
	})
	return ids, err
}

// countSettled counts the orders whose settling event has been acknowledged.
func (r *sagaRig) countSettled(ids []string) int {
	n := 0
	for _, id := range ids {
		if _, ok := r.settled.Load(id); ok {
			n++
		}
	}
	return n
}

// waitQuiet waits until the rig's Postgres backends and this process together use at most
// burstQuiet in a second, for at most burstQuietWait, and says on stderr how long it took.
func waitQuiet(ctx context.Context, dbs []string) error {
	start := time.Now()
	for time.Since(start) < burstQuietWait {
		used, err := cpuOver(ctx, time.Second, dbs)
		if err != nil {
			return err
		}
		if used.rigPG+used.app <= burstQuiet {
			fmt.Fprintf(os.Stderr, "burst_recovery: rig quiet after %.0fs\n", time.Since(start).Seconds())
			return nil
		}
	}
	fmt.Fprintf(os.Stderr, "warning: burst_recovery: rig still busy after %s; measuring anyway\n", burstQuietWait)
	return nil
}

// cpuOver returns the CPU Postgres and this process use in the next d.
func cpuOver(ctx context.Context, d time.Duration, rigDBs []string) (cpuSample, error) {
	start, err := sampleCPU(rigDBs)
	if err != nil {
		return cpuSample{}, err
	}
	if !sleepCtx(ctx, d) {
		return cpuSample{}, ctx.Err()
	}
	end, err := sampleCPU(rigDBs)
	return end.sub(start), err
}

// sleepCtx sleeps for d, or until ctx ends; it reports whether it slept the whole d.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
