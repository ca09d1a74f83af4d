package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopflow/shopflow/internal/kafka"
	"github.com/shopflow/shopflow/internal/telemetry"
)

// Worker keeps one read model up to date from the live event topics, as a member of the
// model's consumer group (Config.Group). Run several instances (processes) to share the
// partitions. Create it with NewWorker and call Run once.
type Worker struct {
	cfg   Config
	model model
	ix    indices
	cl    *kgo.Client
	proc  *processor
	lag   *lag
	log   *slog.Logger
	// paused are the model's own topics while its reference topics catch up (see joiner).
	paused []string
	// storedOffsets are the offsets after the last stored batch of each partition, until a
	// revocation or the end of Run commits them synchronously.
	mu            sync.Mutex
	storedOffsets map[string]map[int32]kgo.EpochOffset
	// status is what Health reports: membership and the failure being retried.
	status  kafka.GroupStatus
	running atomic.Bool
}

// Health reports nil while Run runs, the worker's consumer holds its partitions and no
// batch is being retried (Elasticsearch or Kafka failing); otherwise why not. Safe for
// concurrent use; readiness probes call it.
func (w *Worker) Health() error {
	if !w.running.Load() {
		return fmt.Errorf("projection %s: not running", w.model.name())
	}
	if err := w.status.Health(); err != nil {
		return fmt.Errorf("projection %s: %w", w.model.name(), err)
	}
	return nil
}

// NewWorker returns the live worker of the read model name (Orders, Products or Customers).
// It fails on an invalid configuration or an unknown name; it does not connect yet.
func NewWorker(name string, es *elasticsearch.Client, cfg Config) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := lookup(name)
	if err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	w := &Worker{cfg: cfg, model: m, ix: indices{es: esClient{es}, cfg: cfg, model: m}, storedOffsets: map[string]map[int32]kgo.EpochOffset{},
		lag: cfg.Metrics.lagOf(name), log: cfg.Log.With("projection", name)}
	if w.cl, err = cfg.newClient(w.kafkaOpts()...); err != nil {
		return nil, err
	}
	w.proc = newProcessor(m, w.ix.es, cfg, w.ix.alias(), true, w.cl, name)
	return w, nil
}

// kafkaOpts configure the group member. The group uses Kafka's classic protocol
// (JoinGroup/SyncGroup) with the client-side cooperative-sticky balancer, franz-go's
// default, stated explicitly: franz-go supports KIP-848 only as an opt-in
// (kgo.ServerSideBalancer) recommended from Kafka 4.3, and the brokers run 4.1.
// Offsets are committed by hand after the batch is stored, and rebalances wait while a
// batch is in flight (BlockRebalanceOnPoll), so a revoked partition has nothing pending.
func (w *Worker) kafkaOpts() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.ConsumerGroup(w.cfg.Group(w.model.name())),
		kgo.ConsumeTopics(topicsOf(w.cfg, w.model)...),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(w.status.Assigned),
		kgo.OnPartitionsRevoked(w.revoked),
		kgo.OnPartitionsLost(w.lost),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.FetchMaxWait(500 * time.Millisecond), // resumed topics are fetched soon
	}
	opts = append(opts, kafka.SessionTimeout(w.cfg.SessionTimeout)...)
	return append(opts, kafka.StaticMember(w.cfg.InstanceID)...)
}

// newProcessor returns a processor writing into target, dead-lettering with cl.
func newProcessor(m model, es esClient, cfg Config, target string, live bool, cl *kgo.Client, consumer string) *processor {
	dl := deadLetterer{cl: cl, topic: cfg.DeadLetterTopic, consumer: consumer,
		count: func(n int) { cfg.Metrics.deadLetters.WithLabelValues(m.name()).Add(float64(n)) }}
	docs, refs := newCaches(cfg.CacheSize)
	return &processor{m: m, es: es, cfg: cfg, target: target, live: live, gaps: map[string]time.Time{},
		docs: docs, refs: refs, deadLetter: dl.send, log: cfg.Log, metrics: cfg.Metrics}
}

// Run consumes and applies events until ctx is cancelled (it then returns nil) or the Kafka
// client fails for good. It first makes sure the alias exists (creating generation 1).
// Elasticsearch or Kafka failures are retried with backoff; nothing is committed until the
// batch is stored, so nothing is lost. Run closes the worker's Kafka client when it returns.
func (w *Worker) Run(ctx context.Context) error {
	w.running.Store(true)
	defer w.running.Store(false)
	defer func() {
		member, _ := w.cl.GroupMetadata()
		w.cl.Close()
		w.leave(member)
	}()
	defer w.commitStored(context.WithoutCancel(ctx), nil)
	err := retry(ctx, w.cfg, w.retried, func() error { _, err := w.ix.ensure(ctx); return err })
	if w.paused = ownTopics(w.cfg, w.model); len(w.paused) > 0 {
		w.cl.PauseFetchTopics(w.paused...)
	}
	for err == nil {
		var recs []*kgo.Record
		if recs, err = w.poll(ctx); err == nil && len(recs) > 0 {
			err = w.handle(ctx, recs)
		}
		if err == nil {
			w.status.Failing(nil)
		}
		w.cl.AllowRebalance()
	}
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("projections: %s worker: %w", w.model.name(), err)
}

// leave makes a static member leave its group once its client is closed (see
// kafka.StaticMember), so that its partitions move to the other members now.
func (w *Worker) leave(member string) {
	if w.cfg.InstanceID == "" {
		return
	}
	cl, err := w.cfg.newClient()
	if err != nil {
		w.log.Warn("could not leave the consumer group", "err", err)
		return
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := kafka.Leave(ctx, cl, w.cfg.Group(w.model.name()), w.cfg.InstanceID, member); err != nil {
		w.log.Warn("could not leave the consumer group; its partitions wait for the session timeout", "err", err)
	}
}

// Lag returns the records not yet applied on the worker's partitions and, while there are
// some, the seconds since the last applied event was recorded.
func (w *Worker) Lag() (records int64, seconds float64) { return w.lag.get() }

// poll returns the next batch: what is buffered, then more until BatchSize records or
// FlushInterval after the first.
func (w *Worker) poll(ctx context.Context) ([]*kgo.Record, error) {
	if len(w.paused) > 0 {
		return w.pollReferences(ctx)
	}
	recs, err := w.records(ctx, w.cl.PollRecords(ctx, w.cfg.BatchSize))
	deadline := time.Now().Add(w.cfg.FlushInterval)
	for err == nil && len(recs) > 0 && len(recs) < w.cfg.BatchSize && time.Now().Before(deadline) {
		pctx, cancel := context.WithDeadline(ctx, deadline)
		var more []*kgo.Record
		more, err = w.records(ctx, w.cl.PollRecords(pctx, w.cfg.BatchSize-len(recs)))
		cancel()
		recs = append(recs, more...)
	}
	return recs, err
}

// pollReferences polls while the model's own topics are paused at start-up, so that a
// backlog of products and customers is applied before the orders that show them (joined when
// first written rather than repaired). It resumes them once a poll finds every reference
// partition it fetched at its high watermark, or none to fetch: a steady stream of reference
// events cannot keep them paused.
func (w *Worker) pollReferences(ctx context.Context) ([]*kgo.Record, error) {
	pctx, cancel := context.WithTimeout(ctx, max(w.cfg.FlushInterval, 200*time.Millisecond))
	defer cancel()
	fetches := w.cl.PollRecords(pctx, w.cfg.BatchSize)
	recs, err := w.records(ctx, fetches)
	if err == nil && !behind(fetches) {
		w.cl.ResumeFetchTopics(w.paused...)
		w.paused = nil
	}
	return recs, err
}

// behind reports whether a fetched partition has records past those fetched.
func behind(fetches kgo.Fetches) bool {
	lagging := false
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if n := len(p.Records); n > 0 && p.Records[n-1].Offset+1 < p.HighWatermark {
			lagging = true
		}
	})
	return lagging
}

// records returns the fetched records after logging fetch errors (the client retries them)
// and noting the partitions' high watermarks.
func (w *Worker) records(ctx context.Context, fetches kgo.Fetches) ([]*kgo.Record, error) {
	if fetches.IsClientClosed() {
		return nil, kgo.ErrClientClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fetches.EachError(func(topic string, p int32, err error) {
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			w.log.Warn("fetch failed", "topic", topic, "partition", p, "err", err)
		}
	})
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		w.lag.observe(partition{p.Topic, p.Partition}, p.HighWatermark)
	})
	return fetches.Records(), nil
}

// handle applies a batch (retrying until it is stored) and commits its offsets
// asynchronously: the next batch need not wait for Kafka. franz-go keeps commits in order,
// and a revocation or a stop commits synchronously (see commitStored), so the only cost of
// a commit lost in a crash is a redelivery, which applies as duplicates.
func (w *Worker) handle(ctx context.Context, recs []*kgo.Record) error {
	var b *batch
	err := retry(ctx, w.cfg, w.retried, func() (err error) { b, err = w.proc.process(ctx, recs); return err })
	if err != nil {
		return err
	}
	account(w.cfg.Metrics, w.model.name(), w.lag, b, recs)
	offsets := w.stored(recs)
	w.cl.CommitOffsets(context.WithoutCancel(ctx), offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, res *kmsg.OffsetCommitResponse, err error) {
		if err = errors.Join(err, commitError(res)); err != nil {
			// Not fatal: the records are applied, and a redelivery is skipped as duplicates.
			w.log.Warn("offset commit failed; the batch may be redelivered", "err", err)
		}
	})
	return nil
}

// stored notes recs as stored and returns the offsets to commit after them.
func (w *Worker) stored(recs []*kgo.Record) map[string]map[int32]kgo.EpochOffset {
	w.mu.Lock()
	defer w.mu.Unlock()
	offsets := map[string]map[int32]kgo.EpochOffset{}
	for _, r := range recs {
		if offsets[r.Topic] == nil {
			offsets[r.Topic] = map[int32]kgo.EpochOffset{}
		}
		eo := kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
		offsets[r.Topic][r.Partition] = eo
		if w.storedOffsets[r.Topic] == nil {
			w.storedOffsets[r.Topic] = map[int32]kgo.EpochOffset{}
		}
		w.storedOffsets[r.Topic][r.Partition] = eo
	}
	return offsets
}

// commitStored commits, synchronously, the offsets of every batch stored on the given
// partitions (all when nil) and forgets them. franz-go issues it after any asynchronous
// commit still in flight.
func (w *Worker) commitStored(ctx context.Context, partitions map[string][]int32) {
	w.mu.Lock()
	offsets := map[string]map[int32]kgo.EpochOffset{}
	for topic, byPartition := range w.storedOffsets {
		for p, eo := range byPartition {
			if partitions == nil || slices.Contains(partitions[topic], p) {
				if offsets[topic] == nil {
					offsets[topic] = map[int32]kgo.EpochOffset{}
				}
				offsets[topic][p] = eo
				delete(byPartition, p)
			}
		}
	}
	w.mu.Unlock()
	if len(offsets) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var failed error
	w.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, res *kmsg.OffsetCommitResponse, err error) {
		failed = errors.Join(err, commitError(res))
	})
	if failed != nil {
		w.log.Warn("offset commit failed; stored batches may be redelivered", "err", failed)
	}
}

// commitError returns the first partition error of a commit answer.
func commitError(res *kmsg.OffsetCommitResponse) error {
	if res == nil {
		return nil
	}
	for _, t := range res.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("commit %s[%d]: %w", t.Topic, p.Partition, err)
			}
		}
	}
	return nil
}

// account records a stored batch in the metrics and the lag.
func account(m *Metrics, name string, l *lag, b *batch, recs []*kgo.Record) {
	n, last := b.applied()
	m.applied.WithLabelValues(name).Add(float64(n))
	stored, now := m.stored.WithLabelValues(name), time.Now()
	b.eachApplied(func(ch change) {
		ctx := trace.ContextWithSpanContext(context.Background(), kafka.SpanContext(ch.rec)) // exemplar: the event's trace
		telemetry.Observe(ctx, stored, now.Sub(ch.env.RecordedAt).Seconds())
	})
	for _, r := range recs {
		l.advance(partition{r.Topic, r.Partition}, r.Offset+1, last)
	}
}

func (w *Worker) retried(err error) {
	w.status.Failing(err)
	w.cfg.Metrics.retries.WithLabelValues(w.model.name()).Inc()
	w.log.Warn("projection failed; retrying", "err", err)
}

// revoked is the revocation callback. Because rebalances are blocked while a batch is in
// flight, every record polled before it ran was stored: it commits their offsets before the
// partitions move, so their next owner does not apply them again.
func (w *Worker) revoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	w.commitStored(ctx, revoked)
	w.forget(revoked)
}

// lost is the callback of partitions lost without a revocation (the member's session
// expired): committing is no longer possible, and a redelivery applies as duplicates.
func (w *Worker) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	w.mu.Lock()
	for topic, ids := range lost {
		for _, p := range ids {
			delete(w.storedOffsets[topic], p)
		}
	}
	w.mu.Unlock()
	w.status.Lost(context.Background(), nil, lost)
	w.forget(lost)
}

// forget drops the lag of partitions the worker no longer owns and its cached documents:
// another worker may write them now.
func (w *Worker) forget(partitions map[string][]int32) {
	w.proc.forgetAll()
	for topic, ids := range partitions {
		w.lag.forget(topic, ids)
	}
}

// retry calls fn until it succeeds or ctx ends, backing off exponentially between attempts
// (capped at one second while waiting for a version gap to close).
func retry(ctx context.Context, cfg Config, onRetry func(error), fn func() error) error {
	backoff := cfg.RetryBackoff
	for {
		err := fn()
		if err == nil || ctx.Err() != nil {
			return errors.Join(err, ctx.Err())
		}
		onRetry(err)
		wait := backoff
		if errors.Is(err, errGap) {
			wait = min(wait, time.Second)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		backoff = min(2*backoff, cfg.MaxRetryBackoff)
	}
}

// RunWorkers runs the live worker of every read model until ctx is cancelled and returns
// nil then, or the first worker's failure (after stopping the others).
func RunWorkers(ctx context.Context, es *elasticsearch.Client, cfg Config) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var workers []*Worker
	for _, name := range Names() {
		w, err := NewWorker(name, es, cfg)
		if err != nil {
			for _, started := range workers {
				started.cl.Close()
			}
			return err
		}
		workers = append(workers, w)
	}
	errs := make([]error, len(workers))
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Go(func() {
			if errs[i] = w.Run(ctx); errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
