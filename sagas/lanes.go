package sagas

import (
	"context"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopflow/shopflow/internal/command"
)

// Lanes.
//
// Records are keyed by order, but reactions write to products and accounts: under a flash
// sale, the reactions that target one hot product arrive on every partition at once. Run
// partition by partition they raced on that product's stream, each loser reloading and
// retrying, until retries ran out. So a poll's records are routed to lanes by what they
// write to: a lane holds every record whose order, or whose target aggregates, it shares
// with another record of the lane (a union of the records' keys), so one instance never
// races itself on a stream, and the records of one order keep their partition's order.
// Lanes run concurrently (at most Config.Concurrency at once), each one's records in order.
//
// Group commit: a lane of several records decides them one after the other against the
// same aggregates (the batch keeps what a decision changed), collecting their events and
// inbox entries in one command.Unit, and writes it in one transaction: a hot product costs one
// write per poll, not one per order. If any decision fails, or the write does (another
// instance moved a stream, a message was processed already), nothing of it is stored, the
// batch's changed aggregates are dropped (no one else ever saw them), and the lane's
// records are processed one by one, the way a lone record always is (retries, dead
// letters, duplicates).
//
// Offsets are committed per partition up to the record before its first one not processed,
// whatever lane it was in; records after it are redelivered and dropped by the inbox.

// route returns the aggregates, besides the record's order, that a reaction writes to, as
// stream ids. It may read the store (a release learns its products from the reservation).
type route func(ctx context.Context, m message) ([]string, error)

// item is a record of a poll on its way through a lane.
type item struct {
	rec  *kgo.Record
	part int // index of its partition in the poll
	idx  int // index in its partition's records
	m    message
	fn   reaction // nil: no reaction (ignored), or prepare failed
	err  error    // prepare's error: processed alone, which dead-letters it
	keys []string
}

// lane is a set of items that share an order or an aggregate, in poll order.
type lane struct{ items []*item }

// lanes prepares a poll's records and groups them into lanes.
func (s *session) lanes(ctx context.Context, parts []*partition) []*lane {
	var items []*item
	for pi, p := range parts {
		for ri, rec := range p.records {
			items = append(items, &item{rec: rec, part: pi, idx: ri})
		}
	}
	s.routeAll(ctx, items)
	return groupLanes(items)
}

// routeAll prepares every item and computes its keys, concurrently (routes may read).
func (s *session) routeAll(ctx context.Context, items []*item) {
	sem := make(chan struct{}, s.r.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, it := range items {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			s.r.route(ctx, it)
		})
	}
	wg.Wait()
}

// route prepares it and sets its keys: its record key (the order), and the aggregates its
// reaction writes to when its route can tell (else the order alone: it is then processed
// in its order's lane, and a conflict with another lane is retried as ever).
func (r *Reactor) route(ctx context.Context, it *item) {
	it.keys = []string{"key:" + string(it.rec.Key)}
	it.m, it.fn, it.err = r.prepare(it.rec)
	if it.err != nil || it.fn == nil {
		return
	}
	rt := r.routes[it.m.env.EventType]
	if rt == nil {
		return
	}
	if targets, err := rt(ctx, it.m); err == nil {
		it.keys = append(it.keys, targets...)
	}
}

// groupLanes unions items sharing a key (union–find over the keys) and returns the lanes,
// each holding its items in poll order.
func groupLanes(items []*item) []*lane {
	parent := make([]int, len(items))
	owner := map[string]int{}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	for i, it := range items {
		parent[i] = i
		for _, k := range it.keys {
			if j, ok := owner[k]; ok {
				parent[find(i)] = find(j)
			} else {
				owner[k] = i
			}
		}
	}
	byRoot := map[int]*lane{}
	var lanes []*lane
	for i, it := range items {
		root := find(i)
		l, ok := byRoot[root]
		if !ok {
			l = &lane{}
			byRoot[root] = l
			lanes = append(lanes, l)
		}
		l.items = append(l.items, it)
	}
	return lanes
}

// processLane processes a lane's items in order and marks each processed item done: in
// runs of items of distinct orders, each run of several by group commit. A run ends before
// an order's second item, whose reaction must see the first one's effects stored (not every
// aggregate is kept between decisions: an order's reservation or settlement is read back).
// It stops at the first item not processed (abortCtx ended, or it kept failing), leaving it
// and the rest of the lane for redelivery.
func (s *session) processLane(ctx, abortCtx context.Context, l *lane, done func(*item)) {
	for _, run := range distinctRuns(l.items) {
		if len(run) > 1 && abortCtx.Err() == nil && s.groupCommit(ctx, run) {
			for _, it := range run {
				done(it)
			}
			continue
		}
		if len(run) > 1 {
			s.r.metrics.groupFallbacks.Inc()
		}
		for _, it := range run {
			if abortCtx.Err() != nil || s.handle(ctx, abortCtx, it.rec) != nil {
				return
			}
			done(it)
		}
	}
}

// distinctRuns splits items, in order, into runs in which no record key appears twice.
func distinctRuns(items []*item) [][]*item {
	var runs [][]*item
	start := 0
	seen := map[string]bool{}
	for i, it := range items {
		key := string(it.rec.Key)
		if seen[key] {
			runs = append(runs, items[start:i])
			start, seen = i, map[string]bool{}
		}
		seen[key] = true
	}
	return append(runs, items[start:])
}

// groupCommit decides every item of a lane and writes all of it in one transaction. It
// reports whether that committed; if not, nothing was stored, and the aggregates its
// decisions loaded (taken from their repositories, changed only in the batch) are
// dropped: the next load reads them from the store.
//
// Each decision has a span of its own in its message's trace, ended when the batch is
// stored (or not): the batch's write links them all (see trace.go).
func (s *session) groupCommit(ctx context.Context, items []*item) (ok bool) {
	b := &batch{}
	outcomes := make([]string, len(items))
	spans := make([]trace.Span, len(items))
	var failure error
	defer func() {
		for i, span := range spans {
			if span != nil {
				endReaction(span, outcomes[i], failure)
			}
		}
	}()
	for i, it := range items {
		if it.err != nil {
			return false
		}
		if it.fn == nil {
			outcomes[i] = OutcomeIgnored
			continue
		}
		mctx, span := s.r.startReaction(ctx, it.rec)
		spans[i] = span
		m := it.m
		m.batch = b
		traceMessage(mctx, &m)
		outcome, err := it.fn(mctx, m)
		if err != nil {
			failure = fmt.Errorf("group commit: decision failed, the lane is processed one by one: %w", err)
			return false
		}
		outcomes[i] = outcome
	}
	if _, err := b.unit.Write(ctx, s.r.store); err != nil {
		failure = fmt.Errorf("group commit: write failed, the lane is processed one by one: %w", err)
		s.r.log.Debug("group commit failed; processing the lane's records one by one", "records", len(items), "err", err)
		return false
	}
	for _, giveBack := range b.stored {
		giveBack()
	}
	s.r.metrics.groupCommits.Observe(float64(len(items)))
	for _, o := range outcomes {
		s.r.metrics.processed(o)
	}
	return true
}

// batch collects the writes of a group commit, and the aggregates its decisions changed:
// later decisions of the batch load them from here, and the repositories get them back
// only once the batch is stored. No one outside the batch may see a change not stored:
// another lane loading a product whose kept copy held this batch's undecided changes at a
// version the store reached by other writes would decide on a state that never existed.
type batch struct {
	unit    command.Unit // the decisions' appends and inbox entries
	pending map[pendingKey]command.Aggregate
	stored  []func() // give the pending aggregates back to their repositories
}

type pendingKey struct {
	repo any
	id   string
}

// loadIn loads aggregate id from repo or, in a group commit, the batch's copy of it.
func loadIn[A command.Aggregate](ctx context.Context, m message, repo *command.Repository[A], id string) (A, error) {
	if a, ok := pendingCopy(m, repo, id); ok {
		return a, nil
	}
	return repo.Load(ctx, id)
}

// pendingCopy returns the group commit's changed copy of aggregate id of repo, if any.
func pendingCopy[A command.Aggregate](m message, repo *command.Repository[A], id string) (A, bool) {
	if m.batch != nil {
		if a, ok := m.batch.pending[pendingKey{repo, id}]; ok {
			return a.(A), true
		}
	}
	var zero A
	return zero, false
}

// keep gives an aggregate whose changes are written back to its repository (see
// command.Repository.Committed). In a group commit its changes are only queued: it is
// kept in the batch for the batch's later decisions, and given back once the batch is
// stored.
func keep[A command.Aggregate](m message, repo *command.Repository[A], a A) {
	if m.batch == nil {
		repo.Committed(a)
		return
	}
	a.MarkCommitted() // the next decision's append holds only its own events
	if m.batch.pending == nil {
		m.batch.pending = map[pendingKey]command.Aggregate{}
	}
	m.batch.pending[pendingKey{repo, a.ID()}] = a
	m.batch.stored = append(m.batch.stored, func() { repo.Committed(a) })
}
