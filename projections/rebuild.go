package projections

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Rebuild phases, in order.
const (
	// PhaseReplay reads the topics from their start to the end offsets captured at start.
	PhaseReplay = "replay"
	// PhaseCatchUp reads what was published meanwhile, round after round, until a round is
	// shorter than one batch.
	PhaseCatchUp = "catch-up"
	// PhaseFinish follows the alias swap: the rebuild reads to the end offsets captured
	// after the swap, covering every event the live worker wrote to the old index only.
	PhaseFinish = "finish"
	// PhaseDone: the new index is live and the old one deleted.
	PhaseDone = "done"
)

// maxCatchUpRounds bounds the catch-up when events arrive as fast as the rebuild applies
// them; the swap is safe anyway (live workers wait for the finish phase on version gaps).
const maxCatchUpRounds = 20

// Progress is a rebuild's advance, reported after every batch.
type Progress struct {
	Projection string
	Index      string // the index being built
	Phase      string // PhaseReplay, PhaseCatchUp, PhaseFinish or PhaseDone
	// Done of Total records of the phase are applied (Total is fixed when the phase starts).
	Done, Total int64
}

// RebuildResult describes a finished rebuild.
type RebuildResult struct {
	Projection string
	OldIndex   string // "" if the alias did not exist
	NewIndex   string
	Records    int64 // records read
	Applied    int64 // events applied to documents
	Duration   time.Duration
}

// rebuild is the state of one Rebuild call.
type rebuild struct {
	cfg      Config
	ix       indices
	kc       *kgo.Client // admin requests and dead letters
	adm      *kadm.Client
	cons     *kgo.Client // the group-less consumer
	proc     *processor
	pos      map[partition]int64 // next offset to apply, per partition
	phase    string
	from     map[partition]int64 // positions when the phase started
	progress func(Progress)
	res      RebuildResult
	log      *slog.Logger
}

// Rebuild builds a new generation of the read model name from the start of its topics while
// the current one keeps serving, then swaps the alias to it atomically and deletes the old
// index. progress (may be nil) is called from Rebuild's goroutine after every batch.
//
// It refuses to start while a newer unaliased generation exists (a rebuild running, or
// interrupted: delete that index to go on). A failure before the swap deletes the new
// index; the alias is untouched. A failure after the swap leaves the new index live but
// marked catching_up (live workers wait on version gaps): run Rebuild again.
func Rebuild(ctx context.Context, es *elasticsearch.Client, cfg Config, name string, progress func(Progress)) (RebuildResult, error) {
	r, err := newRebuild(es, cfg, name, progress)
	if err != nil {
		return RebuildResult{}, err
	}
	defer r.adm.Close()
	start := time.Now()
	old, err := r.prepare(ctx)
	if err != nil {
		return r.res, err
	}
	defer r.cons.Close()
	if err := r.build(ctx); err != nil {
		r.abandon()
		return r.res, err
	}
	if err := r.cutOver(ctx, old); err != nil {
		return r.res, err
	}
	r.res.Duration = time.Since(start)
	r.report(PhaseDone, 0, 0)
	return r.res, nil
}

func newRebuild(es *elasticsearch.Client, cfg Config, name string, progress func(Progress)) (*rebuild, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := lookup(name)
	if err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	admin, err := cfg.newClient(kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		return nil, err
	}
	if progress == nil {
		progress = func(Progress) {}
	}
	return &rebuild{cfg: cfg, ix: indices{es: esClient{es}, cfg: cfg, model: m}, kc: admin, adm: kadm.NewClient(admin),
		pos: map[partition]int64{}, progress: progress, res: RebuildResult{Projection: name},
		log: cfg.Log.With("projection", name, "rebuild", true)}, nil
}

// prepare checks that no other generation is pending, creates the new index and a consumer
// positioned at the start of every partition. It returns the index behind the alias.
func (r *rebuild) prepare(ctx context.Context) (string, error) {
	old, gen, err := r.nextGeneration(ctx)
	if err != nil {
		return "", err
	}
	if err := r.startConsumer(ctx); err != nil {
		return "", err
	}
	if r.res.NewIndex, err = r.ix.create(ctx, gen); err != nil {
		r.cons.Close()
		return "", err
	}
	r.res.OldIndex = old
	r.proc = newProcessor(r.ix.model, r.ix.es, r.cfg, r.res.NewIndex, false, r.kc,
		r.ix.model.name()+" rebuild "+r.res.NewIndex)
	r.proc.soleWriter = true
	r.log.Info("rebuild started", "old_index", old, "new_index", r.res.NewIndex)
	return old, nil
}

// nextGeneration returns the index behind the alias and the generation to build.
func (r *rebuild) nextGeneration(ctx context.Context) (string, int, error) {
	current, err := r.ix.current(ctx)
	if err != nil {
		return "", 0, err
	}
	gens, err := r.ix.generations(ctx)
	if err != nil {
		return "", 0, err
	}
	if len(gens) == 0 {
		return current, 1, nil
	}
	newest := gens[len(gens)-1]
	if newest != current {
		return "", 0, fmt.Errorf("%w: %s (alias %s is on %q)", errRebuildPending, newest, r.ix.alias(), current)
	}
	return current, generationOf(r.ix.alias(), newest) + 1, nil
}

// startConsumer creates a group-less consumer of every partition from its start offset.
func (r *rebuild) startConsumer(ctx context.Context) error {
	starts, err := r.adm.ListStartOffsets(ctx, topicsOf(r.cfg, r.ix.model)...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("projections: list start offsets: %w", err)
	}
	offsets := map[string]map[int32]kgo.Offset{}
	starts.Each(func(o kadm.ListedOffset) {
		if offsets[o.Topic] == nil {
			offsets[o.Topic] = map[int32]kgo.Offset{}
		}
		offsets[o.Topic][o.Partition] = kgo.NewOffset().At(o.Offset)
		r.pos[partition{o.Topic, o.Partition}] = o.Offset
	})
	// A short fetch wait: partitions resumed after the reference replay are only fetched
	// once the fetch in flight returns.
	r.cons, err = r.cfg.newClient(kgo.ConsumePartitions(offsets), kgo.FetchMaxWait(100*time.Millisecond))
	return err
}

// build replays the topics into the new index, then catches up with the live stream.
func (r *rebuild) build(ctx context.Context) error {
	end, err := r.endOffsets(ctx)
	if err != nil {
		return err
	}
	if err := r.replayReferences(ctx, end); err != nil {
		return err
	}
	if err := r.consumeTo(ctx, PhaseReplay, end, nil); err != nil {
		return err
	}
	for round := 0; round < maxCatchUpRounds; round++ {
		if end, err = r.endOffsets(ctx); err != nil {
			return err
		}
		behind := remaining(r.pos, end)
		if err := r.consumeTo(ctx, PhaseCatchUp, end, nil); err != nil {
			return err
		}
		if behind < int64(r.cfg.BatchSize) {
			return nil
		}
	}
	return nil
}

// cutOver makes the new index live: normal refresh, marked catching_up, alias swapped
// atomically, the events published meanwhile applied, marked live, old index deleted.
func (r *rebuild) cutOver(ctx context.Context, old string) error {
	gen := generationOf(r.ix.alias(), r.res.NewIndex)
	err := r.ix.open(ctx, r.res.NewIndex)
	if err == nil {
		err = r.ix.setState(ctx, r.res.NewIndex, gen, stateCatchingUp)
	}
	if err == nil {
		err = r.ix.swap(ctx, old, r.res.NewIndex)
	}
	if err != nil {
		r.abandon()
		return err
	}
	r.proc.soleWriter = false // live workers write into the new index from now on
	r.log.Info("alias swapped", "alias", r.ix.alias(), "from", old, "to", r.res.NewIndex)
	// From here on the new index serves reads: finish even if ctx is cancelled meanwhile.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	if err := r.finish(fctx, gen); err != nil {
		return fmt.Errorf("projections: %s is live but incomplete, run the rebuild again: %w", r.res.NewIndex, err)
	}
	return r.dropOld(ctx, old)
}

// finish applies the events published up to just after the swap and marks the index live.
func (r *rebuild) finish(ctx context.Context, gen int) error {
	end, err := r.endOffsets(ctx)
	if err != nil {
		return err
	}
	if err := r.consumeTo(ctx, PhaseFinish, end, nil); err != nil {
		return err
	}
	return r.ix.setState(ctx, r.res.NewIndex, gen, stateLive)
}

// dropOld deletes the old index after DeleteGrace, so that reads that resolved the alias
// just before the swap complete.
func (r *rebuild) dropOld(ctx context.Context, old string) error {
	if old == "" {
		return nil
	}
	select {
	case <-ctx.Done():
	case <-time.After(r.cfg.DeleteGrace):
	}
	return r.ix.drop(context.WithoutCancel(ctx), old)
}

// abandon deletes the new index of a failed rebuild.
func (r *rebuild) abandon() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.ix.drop(ctx, r.res.NewIndex); err != nil {
		r.log.Error("delete abandoned index", "index", r.res.NewIndex, "err", err)
	}
}

// endOffsets returns every partition's current end offset.
func (r *rebuild) endOffsets(ctx context.Context) (map[partition]int64, error) {
	ends, err := r.adm.ListEndOffsets(ctx, topicsOf(r.cfg, r.ix.model)...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("projections: list end offsets: %w", err)
	}
	out := map[partition]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[partition{o.Topic, o.Partition}] = o.Offset })
	return out, nil
}

// replayReferences replays first the topics whose data a model joins (see joiner), the
// model's own topics paused: documents are then joined when first written.
func (r *rebuild) replayReferences(ctx context.Context, end map[partition]int64) error {
	if _, ok := r.ix.model.(joiner); !ok {
		return nil
	}
	own := ownTopics(r.cfg, r.ix.model)
	r.cons.PauseFetchTopics(own...)
	defer r.cons.ResumeFetchTopics(own...)
	return r.consumeTo(ctx, PhaseReplay, end, func(p partition) bool { return !slices.Contains(own, p.topic) })
}

// consumeTo applies records until every partition's position (of those in scope, all if
// scope is nil) reaches its target offset. Progress counts every target partition from the
// start of the phase.
func (r *rebuild) consumeTo(ctx context.Context, phase string, target map[partition]int64, scope func(partition) bool) error {
	if phase != r.phase {
		r.phase, r.from = phase, maps.Clone(r.pos)
	}
	wait := maps.Clone(target)
	if scope != nil {
		maps.DeleteFunc(wait, func(p partition, _ int64) bool { return !scope(p) })
	}
	total := remaining(r.from, target)
	r.report(phase, total-remaining(r.pos, target), total)
	for remaining(r.pos, wait) > 0 {
		recs, err := r.poll(ctx)
		if err != nil {
			return err
		}
		if err := r.apply(ctx, recs); err != nil {
			return err
		}
		r.report(phase, total-remaining(r.pos, target), total)
	}
	return nil
}

// poll returns the next records; an empty result after a second of waiting is normal.
func (r *rebuild) poll(ctx context.Context) ([]*kgo.Record, error) {
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	fetches := r.cons.PollRecords(pctx, r.cfg.BatchSize)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fetches.EachError(func(topic string, p int32, err error) {
		if pctx.Err() == nil {
			r.log.Warn("fetch failed", "topic", topic, "partition", p, "err", err)
		}
	})
	return fetches.Records(), nil
}

// apply stores a batch, retrying until it succeeds, and advances the positions.
func (r *rebuild) apply(ctx context.Context, recs []*kgo.Record) error {
	if len(recs) == 0 {
		return nil
	}
	var b *batch
	err := retry(ctx, r.cfg, r.retried, func() (err error) { b, err = r.proc.process(ctx, recs); return err })
	if err != nil {
		return err
	}
	n, _ := b.applied()
	r.res.Applied += int64(n)
	r.res.Records += int64(len(recs))
	for _, rec := range recs {
		p := partition{rec.Topic, rec.Partition}
		r.pos[p] = max(r.pos[p], rec.Offset+1)
	}
	return nil
}

func (r *rebuild) retried(err error) {
	r.log.Warn("rebuild batch failed; retrying", "err", err)
}

func (r *rebuild) report(phase string, done, total int64) {
	r.progress(Progress{Projection: r.res.Projection, Index: r.res.NewIndex, Phase: phase, Done: done, Total: total})
}

// remaining counts the records between the positions and the targets.
func remaining(pos, target map[partition]int64) int64 {
	var n int64
	for p, end := range target {
		if at, ok := pos[p]; ok { // a partition created after the start is not read
			n += max(0, end-at)
		}
	}
	return n
}
