package sagas

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/kafka"
)

// commitTimeout bounds an offset commit, including the last one when Run stops.
const commitTimeout = 10 * time.Second

// session is one Run of a reactor: its consumer (group member) and dead-letter producer.
//
// Offsets are committed by hand, only after the messages are processed: every poll is
// processed (partitions concurrently, each in order), then the last processed record of
// each partition is committed, then the client may rebalance. kgo.BlockRebalanceOnPoll
// keeps partitions from being revoked between a poll and its commit, so no revocation
// callback needs to commit: when one runs, everything processed is committed already. A
// message failing transiently is retried with backoff; if a rebalance is waiting
// (kgo.OnPartitionsCallbackBlocked) or Run stops meanwhile, the partition is abandoned at
// that message: what was processed before it is committed and the partition is rewound to
// it (kgo.Client.SetOffsets) before the rebalance is allowed, so no message is skipped.
type session struct {
	r        *Reactor
	consumer *kgo.Client
	producer *kgo.Client

	rebalanceWanted atomic.Bool
	mu              sync.Mutex
	abortBatch      context.CancelFunc
}

func (r *Reactor) newSession() (*session, error) {
	s := &session{r: r}
	var err error
	if s.consumer, err = kafka.NewClient(r.cfg.Brokers, s.consumerOpts()...); err != nil {
		return nil, err
	}
	popts := append(eventstore.ProducerOpts(), kafka.Tracing(""))
	popts = append(popts, r.cfg.ClientOpts...)
	if s.producer, err = kafka.NewClient(r.cfg.Brokers, popts...); err != nil {
		s.consumer.Close()
		return nil, err
	}
	return s, nil
}

// consumerOpts are the group consumer's options (see the package documentation on the
// group protocol).
func (s *session) consumerOpts() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.ConsumerGroup(s.r.group),
		kgo.ConsumeTopics(s.r.topics...),
		// A new group starts at the beginning: a saga must not miss what was published
		// before its first commit, and the inbox drops what was processed already.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// A fetch returns as soon as a record is there; the wait only bounds how long a
		// partition newly assigned (or rewound) waits behind an idle long poll.
		kgo.FetchMaxWait(time.Second),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsCallbackBlocked(func(context.Context, *kgo.Client) { s.wantRebalance() }),
		kgo.OnPartitionsAssigned(func(ctx context.Context, cl *kgo.Client, assigned map[string][]int32) {
			s.r.pollFailure.Store(nil) // the group session is back, whatever the last poll said
			s.r.status.Assigned(ctx, cl, assigned)
		}),
		kgo.OnPartitionsRevoked(s.forget),
		kgo.OnPartitionsLost(func(ctx context.Context, cl *kgo.Client, lost map[string][]int32) {
			s.r.status.Lost(ctx, cl, lost)
			s.forget(ctx, cl, lost)
		}),
		kgo.ClientID("shopflow-saga-" + s.r.context),
	}
	opts = append(opts, kafka.StaticMember(s.r.cfg.InstanceID)...)
	opts = append(opts, kafka.SessionTimeout(s.r.cfg.SessionTimeout)...)
	if s.r.cfg.ServerSideAssignment {
		opts = append(opts, kgo.Balancers(kgo.StickyBalancer()), kgo.ServerSideBalancer())
	} else {
		opts = append(opts, kgo.Balancers(kgo.CooperativeStickyBalancer()))
	}
	return append(opts, s.r.cfg.ClientOpts...)
}

// close closes both clients, leaving the group: a static member leaves explicitly (see
// kafka.StaticMember), so that its partitions move to the other members now.
func (s *session) close() {
	member, _ := s.consumer.GroupMetadata()
	s.consumer.Close()
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	if err := kafka.Leave(ctx, s.producer, s.r.group, s.r.cfg.InstanceID, member); err != nil {
		s.r.log.Warn("could not leave the consumer group; its partitions wait for the session timeout", "err", err)
	}
	s.producer.Close()
}

// wantRebalance is called when a rebalance waits for the current poll: a batch stuck on
// transient failures gives up its partitions instead of blocking the group.
func (s *session) wantRebalance() {
	s.rebalanceWanted.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.abortBatch != nil {
		s.abortBatch()
	}
}

// forget drops the lag series of partitions this member no longer consumes. Nothing is
// left to commit: see session.
func (s *session) forget(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	for topic, partitions := range lost {
		for _, p := range partitions {
			s.r.metrics.forgetLag(topic, p)
		}
	}
}

// loop polls and processes until ctx ends.
func (s *session) loop(ctx context.Context) {
	backoff := s.r.cfg.Backoff
	for ctx.Err() == nil {
		s.rebalanceWanted.Store(false)
		fetches := s.poll(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			s.consumer.AllowRebalance()
			return
		}
		parts := partitions(fetches)
		if err := fetchError(fetches); err != nil && len(parts) == 0 {
			perr := fmt.Errorf("poll: %w", err)
			s.r.pollFailure.Store(&perr)
			s.consumer.AllowRebalance()
			s.r.log.Warn("poll failed; backing off", "err", err, "backoff", backoff)
			_ = sleep(ctx, backoff)
			backoff = min(2*backoff, s.r.cfg.MaxBackoff)
			continue
		}
		s.r.pollFailure.Store(nil)
		backoff = s.r.cfg.Backoff
		s.processBatch(ctx, parts)
		s.consumer.AllowRebalance()
	}
}

// pollWait bounds a poll's wait for records, so that an idle reactor still learns that a
// failing poll (Kafka down) has stopped failing: franz-go never returns an empty poll
// before its context ends.
const pollWait = 5 * time.Second

// poll takes the next records, waiting at most pollWait.
func (s *session) poll(ctx context.Context) kgo.Fetches {
	pctx, cancel := context.WithTimeout(ctx, pollWait)
	defer cancel()
	return s.consumer.PollRecords(pctx, s.r.cfg.MaxPollRecords)
}

// fetchError joins the errors of a poll, ignoring the end of ctx.
func fetchError(fetches kgo.Fetches) error {
	var errs []error
	for _, fe := range fetches.Errors() {
		if !errors.Is(fe.Err, context.Canceled) && !errors.Is(fe.Err, context.DeadlineExceeded) {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", fe.Topic, fe.Partition, fe.Err))
		}
	}
	return errors.Join(errs...)
}

// partition is the records of one partition in a poll, in offset order.
type partition struct {
	topic         string
	partition     int32
	highWatermark int64
	records       []*kgo.Record
}

// partitions groups a poll's records by partition, keeping each partition's order.
func partitions(fetches kgo.Fetches) []*partition {
	type key struct {
		topic     string
		partition int32
	}
	byKey := map[key]*partition{}
	var out []*partition
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		k := key{p.Topic, p.Partition}
		part, ok := byKey[k]
		if !ok {
			part = &partition{topic: p.Topic, partition: p.Partition}
			byKey[k] = part
			out = append(out, part)
		}
		part.highWatermark = max(part.highWatermark, p.HighWatermark)
		part.records = append(part.records, p.Records...)
	})
	return out
}

// result is how far a partition of a batch got.
type result struct {
	part *partition
	// last is the last processed record (nil: none).
	last *kgo.Record
	// next is the first record left unprocessed (nil: all processed).
	next *kgo.Record
}

// processBatch processes one poll's records in lanes (see lanes.go), at most
// Config.Concurrency lanes at once, then commits and rewinds each partition.
func (s *session) processBatch(ctx context.Context, parts []*partition) {
	if len(parts) == 0 {
		return
	}
	abortCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.setAbort(cancel)
	defer s.setAbort(nil)
	done := make([][]bool, len(parts))
	for i, p := range parts {
		done[i] = make([]bool, len(p.records))
	}
	var mu sync.Mutex
	markDone := func(it *item) {
		mu.Lock()
		done[it.part][it.idx] = true
		mu.Unlock()
	}
	sem := make(chan struct{}, s.r.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, l := range s.lanes(ctx, parts) {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			s.processLane(ctx, abortCtx, l, markDone)
		})
	}
	wg.Wait()
	results := progress(parts, done)
	s.commit(ctx, results)
	s.rewind(results)
}

// progress returns how far each partition got: up to the record before its first one not
// processed.
func progress(parts []*partition, done [][]bool) []result {
	results := make([]result, len(parts))
	for i, p := range parts {
		results[i].part = p
		for j, rec := range p.records {
			if !done[i][j] {
				results[i].next = rec
				break
			}
			results[i].last = rec
		}
	}
	return results
}

// setAbort installs the cancel function of the running batch (nil: none). A rebalance
// wanted before the batch started aborts it at once.
func (s *session) setAbort(cancel context.CancelFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.abortBatch = cancel
	if cancel != nil && s.rebalanceWanted.Load() {
		cancel()
	}
}

// handle processes one record, retrying transient failures with exponential backoff until
// it succeeds or abortCtx ends (then it returns abortCtx's error).
func (s *session) handle(ctx, abortCtx context.Context, rec *kgo.Record) error {
	backoff := s.r.cfg.Backoff
	failing := false // counted in Reactor.failing, for Health
	defer func() {
		if failing {
			s.r.failing.Add(-1)
		}
	}()
	for {
		start := time.Now()
		err := s.process(ctx, rec)
		if err == nil {
			s.r.metrics.duration.Observe(time.Since(start).Seconds())
			return nil
		}
		s.r.lastFailure.Store(&err)
		if !failing {
			failing = true
			s.r.failing.Add(1)
		}
		if abortCtx.Err() != nil {
			return abortCtx.Err()
		}
		s.r.metrics.retries.Inc()
		s.r.log.WarnContext(recordContext(ctx, rec), "reaction failed; retrying", "topic", rec.Topic, "partition", rec.Partition,
			"offset", rec.Offset, "err", err, "backoff", backoff)
		if err := sleep(abortCtx, backoff); err != nil {
			return err
		}
		backoff = min(2*backoff, s.r.cfg.MaxBackoff)
	}
}

// process reacts to a record once: nil when it is processed (or dead-lettered), else a
// transient error.
func (s *session) process(ctx context.Context, rec *kgo.Record) error {
	ctx, span := s.r.startReaction(ctx, rec)
	outcome, err := s.r.react(ctx, rec)
	endReaction(span, outcome, err)
	if IsPermanent(err) {
		return s.sendToDeadLetter(ctx, rec, err)
	}
	if err != nil {
		return err
	}
	s.r.metrics.processed(outcome)
	return nil
}

// sendToDeadLetter produces rec to the reactor's dead-letter topic and waits for the
// acknowledgement, so that its offset is committed only once it is parked durably.
func (s *session) sendToDeadLetter(ctx context.Context, rec *kgo.Record, cause error) error {
	dl := deadLetterRecord(s.r.deadLetter, s.r.context, rec, cause, time.Now())
	if err := s.producer.ProduceSync(ctx, dl).FirstErr(); err != nil {
		return fmt.Errorf("dead-letter %s[%d]@%d to %s: %w", rec.Topic, rec.Partition, rec.Offset, s.r.deadLetter, err)
	}
	s.r.metrics.deadLettered.Inc()
	s.r.metrics.processed(OutcomeDeadLettered)
	s.r.log.ErrorContext(recordContext(ctx, rec), "message dead-lettered", "topic", rec.Topic, "partition", rec.Partition,
		"offset", rec.Offset, "dead_letter_topic", s.r.deadLetter, "err", cause)
	return nil
}

// commit commits the last processed record of each partition and updates the lag. A
// failed commit is logged: the records are redelivered and the inbox drops them.
func (s *session) commit(ctx context.Context, results []result) {
	var recs []*kgo.Record
	for _, res := range results {
		if res.last != nil {
			recs = append(recs, res.last)
		}
	}
	if len(recs) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	if err := s.consumer.CommitRecords(cctx, recs...); err != nil {
		s.r.log.Warn("offset commit failed; the records will be redelivered", "err", err)
	}
	for _, res := range results {
		if res.last != nil {
			s.r.metrics.lag(res.part.topic, res.part.partition, res.part.highWatermark-res.last.Offset-1)
			s.r.metrics.lagSeconds.Set(time.Since(res.last.Timestamp).Seconds())
		}
	}
}

// rewind moves the fetch position of abandoned partitions back to their first
// unprocessed record, so the next poll (here or, after a rebalance, in the member that
// gets the partition from the committed offset) starts there.
func (s *session) rewind(results []result) {
	offsets := map[string]map[int32]kgo.EpochOffset{}
	for _, res := range results {
		if res.next == nil {
			continue
		}
		if offsets[res.part.topic] == nil {
			offsets[res.part.topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[res.part.topic][res.part.partition] = kgo.EpochOffset{Epoch: res.next.LeaderEpoch, Offset: res.next.Offset}
	}
	if len(offsets) > 0 {
		s.consumer.SetOffsets(offsets)
	}
}

// sleep waits d or until ctx ends, returning ctx's error then.
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
