package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/domain/payment"
	"github.com/shopflow/shopflow/eventstore"
)

// processor applies batches of records to one index of one read model. Applying the same
// records again is harmless: events at or below a document's version are skipped, and
// Elasticsearch refuses to replace a document by an older version. Not safe for
// concurrent use.
type processor struct {
	m      model
	es     esClient
	cfg    Config
	target string // the alias (live worker) or an index (rebuild)
	// live workers wait on version gaps (see gap); rebuilds apply over them.
	live bool
	// soleWriter is set while nobody else writes into target (a rebuild before its swap);
	// wroteOrders records whether the processor wrote an order document yet. Together they
	// let a rebuild skip searching for orders waiting for a reference when there is none.
	soleWriter, wroteOrders bool
	gaps                    map[string]time.Time // document id → when its gap was first seen
	// docs holds documents as the processor last wrote or read them, refs the reference data
	// of the orders model (which never changes once created); nil when Config.CacheSize < 0.
	docs *lru.Cache[string, storedDoc]
	refs *lru.Cache[string, refData]
	// deadLetter parks records for good; the processor's owner produces them to Kafka.
	deadLetter func(context.Context, []deadLetter) error
	log        *slog.Logger
	metrics    *Metrics
	started    time.Time // when the batch being processed began, for its spans
}

// change is one event for a document.
type change struct {
	rec *kgo.Record
	env eventstore.Envelope
	ev  domain.Event
}

// deadLetter is a record that will never apply, and why.
type deadLetter struct {
	rec *kgo.Record
	err error
}

// docState is one document of a batch: its events, its state, what the index held.
type docState struct {
	id      string
	changes []change
	doc     document
	stored  int64    // the index's version of the document before the batch, 0: none
	fresh   []change // changes applied in this batch (not duplicates)
	refused bool     // Elasticsearch refused the document for good
}

// batch is the outcome of applying one set of records.
type batch struct {
	docs map[string]*docState
	ids  []string // in order of first appearance, so writes are deterministic
	dead []deadLetter
	// forgotten are the customers whose CustomerForgotten the batch holds.
	forgotten []string
}

func newBatch() *batch { return &batch{docs: map[string]*docState{}} }

func (b *batch) add(id string, ch change) {
	d, ok := b.docs[id]
	if !ok {
		d = &docState{id: id}
		b.docs[id] = d
		b.ids = append(b.ids, id)
	}
	d.changes = append(d.changes, ch)
}

// applied returns how many events the batch applied and when the latest was recorded.
func (b *batch) applied() (n int, last time.Time) {
	b.eachApplied(func(ch change) {
		n++
		if ch.env.RecordedAt.After(last) {
			last = ch.env.RecordedAt
		}
	})
	return n, last
}

// eachApplied calls fn with every event the batch applied (not duplicates, not refused).
func (b *batch) eachApplied(fn func(change)) {
	for _, d := range b.docs {
		if d.refused {
			continue
		}
		for _, ch := range d.fresh {
			fn(ch)
		}
	}
}

// process applies records (in their order) to the index. Any error is worth retrying the
// same records later (Elasticsearch or Kafka unavailable, or a version gap); records that
// can never apply are dead-lettered and do not fail the batch.
func (p *processor) process(ctx context.Context, recs []*kgo.Record) (*batch, error) {
	p.started = time.Now()
	b := p.route(recs)
	if err := p.reveal(ctx, b); err != nil {
		return nil, err
	}
	if err := p.load(ctx, b); err != nil {
		return nil, err
	}
	if err := p.apply(ctx, b); err != nil {
		return nil, err
	}
	j, joins := p.m.(joiner)
	if joins {
		if err := j.beforeWrite(ctx, p, b); err != nil {
			return nil, err
		}
	}
	if err := p.write(ctx, b); err != nil {
		return nil, err
	}
	if joins {
		if err := j.afterWrite(ctx, p, b); err != nil {
			return nil, err
		}
	}
	if err := p.forgetCustomers(ctx, b); err != nil {
		return nil, err
	}
	if err := p.deadLetter(ctx, b.dead); err != nil {
		return nil, err
	}
	clear(p.gaps)
	return b, nil
}

// route decodes the records and groups the events the model handles by document.
func (p *processor) route(recs []*kgo.Record) *batch {
	b := newBatch()
	for _, r := range recs {
		if streamType, eventType, ok := eventstore.Kind(r); ok && !p.m.wants(streamType, eventType) {
			continue // most of an orders worker's records: stock and payment events
		}
		env, err := eventstore.Decode(r, registry) // the domain's upcasters
		if err != nil {
			b.dead = append(b.dead, deadLetter{r, err})
			continue
		}
		id, ev, err := p.m.route(env)
		if f, ok := ev.(payment.CustomerForgotten); ok && err == nil {
			b.forgotten = append(b.forgotten, f.CustomerID)
		}
		switch {
		case err != nil:
			b.dead = append(b.dead, deadLetter{r, err})
		case id != "":
			b.add(id, change{rec: r, env: env, ev: ev})
		}
	}
	return b
}

// load sets the state of the batch's documents before their events: the cached one, none
// for a document whose events start at its stream's first (it is new, or a redelivery that
// Elasticsearch will refuse as not newer), else the index's, read in one real-time _mget.
func (p *processor) load(ctx context.Context, b *batch) error {
	var read []string
	src := make(map[string]json.RawMessage, len(b.ids))
	for _, id := range b.ids {
		d := b.docs[id]
		if s, ok := p.cached(id); ok {
			d.stored, src[id] = s.version, s.source
		} else if d.changes[0].env.Version > 1 {
			read = append(read, id)
		}
	}
	stored, err := mget(ctx, p.es, p.target, read)
	if err != nil {
		return err
	}
	for id, s := range stored {
		b.docs[id].stored, src[id] = s.version, s.source
		p.remember(id, s)
	}
	for _, id := range b.ids {
		d := b.docs[id]
		if d.doc, err = p.m.load(id, src[id]); err != nil {
			p.forget(id)
			p.refuse(b, d, err, d.changes)
		}
	}
	return nil
}

// newCaches returns the document and reference caches of a processor, nil when disabled.
func newCaches(size int) (*lru.Cache[string, storedDoc], *lru.Cache[string, refData]) {
	if size < 0 {
		return nil, nil
	}
	docs, err1 := lru.New[string, storedDoc](size)
	refs, err2 := lru.New[string, refData](size)
	if err := errors.Join(err1, err2); err != nil {
		panic(err) // only a size ≤ 0, excluded above and by the defaults
	}
	return docs, refs
}

func (p *processor) cached(id string) (storedDoc, bool) {
	if p.docs == nil {
		return storedDoc{}, false
	}
	return p.docs.Get(id)
}

func (p *processor) remember(id string, s storedDoc) {
	if p.docs != nil {
		p.docs.Add(id, s)
	}
}

func (p *processor) forget(id string) {
	if p.docs != nil {
		p.docs.Remove(id)
	}
}

// forgetAll empties the document cache: the processor may no longer be the writer of the
// documents it holds (its partitions were reassigned).
func (p *processor) forgetAll() {
	if p.docs != nil {
		p.docs.Purge()
	}
}

// bulk writes ws and keeps the cache in step: a document written is cached as written; one
// the index refused as not newer (it holds a newer or more completely joined version,
// written by someone else) or refused for good is forgotten, to be read back next time.
func (p *processor) bulk(ctx context.Context, ws []write) ([]rejection, error) {
	ctx, span := p.startBulk(ctx, ws)
	out, err := bulk(ctx, p.es, p.target, p.live, ws)
	p.endBulk(span, p.started, ws, err)
	if err != nil {
		for _, w := range ws {
			p.forget(w.id) // the index may hold it or not
		}
		return nil, err
	}
	for _, w := range ws {
		p.remember(w.id, storedDoc{source: w.source, version: w.version})
	}
	if p.live {
		p.cfg.Changes.stored(p.m.name(), ws)
	}
	for _, id := range out.superseded {
		p.forget(id)
	}
	for _, r := range out.rejected {
		p.forget(r.id)
	}
	return out.rejected, nil
}

// refuse dead-letters the given changes of a document and leaves it out of the batch.
func (p *processor) refuse(b *batch, d *docState, err error, changes []change) {
	d.refused = true
	for _, ch := range changes {
		b.dead = append(b.dead, deadLetter{ch.rec, err})
	}
}

// apply applies each document's events in order, skipping those it already holds.
func (p *processor) apply(ctx context.Context, b *batch) error {
	for _, id := range b.ids {
		d := b.docs[id]
		if d.refused {
			continue
		}
		if err := p.applyDoc(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

func (p *processor) applyDoc(ctx context.Context, d *docState) error {
	d.fresh = nil
	for _, ch := range d.changes {
		v, cur := ch.env.Version, d.doc.version()
		if v <= cur {
			continue // a duplicate: already applied
		}
		if v > cur+1 {
			if err := p.gap(ctx, d.id, cur, ch.env); err != nil {
				return err
			}
		}
		d.doc.apply(ch.env, ch.ev)
		d.fresh = append(d.fresh, ch)
	}
	return nil
}

// errGap reports a live worker waiting for the index to catch up with a stream.
var errGap = errors.New("projections: event ahead of its document")

// gap decides what to do with an event more than one version ahead of its document.
// Every event of a stream changes its document, so a gap means the index lacks events of
// the stream: after an alias swap, the rebuild is still applying them (wait: the error makes
// the batch retry), or the missing event was dead-lettered (apply over the gap once
// GapTimeout has passed, unless the index is marked catching_up). Rebuilds, the only writer
// of their index, apply at once.
func (p *processor) gap(ctx context.Context, id string, cur int64, env eventstore.Envelope) error {
	if p.live {
		first, seen := p.gaps[id]
		if !seen {
			first = time.Now()
			p.gaps[id] = first
		}
		if time.Since(first) < p.cfg.GapTimeout || p.catchingUp(ctx) {
			return fmt.Errorf("%w: %s %s version %d, document %s at %d", errGap, env.StreamID, env.EventType, env.Version, id, cur)
		}
	}
	p.metrics.gaps.WithLabelValues(p.m.name()).Inc()
	p.log.Warn("applying an event over a version gap", "projection", p.m.name(), "document", id,
		"document_version", cur, "event_version", env.Version, "stream", env.StreamID, "index", p.target)
	return nil
}

// catchingUp reports whether the write index is still being completed by a rebuild; when
// that cannot be read, it answers true (waiting is safe, applying over a gap is not).
func (p *processor) catchingUp(ctx context.Context) bool {
	meta, err := indices{es: p.es, cfg: p.cfg, model: p.m}.meta(ctx, p.target)
	return err != nil || meta.State == stateCatchingUp
}

// write indexes every document the batch changed; documents refused for good are
// dead-lettered with their new events.
func (p *processor) write(ctx context.Context, b *batch) error {
	var ws []write
	for _, id := range b.ids {
		d := b.docs[id]
		if d.refused || d.doc.esVersion() <= d.stored {
			continue
		}
		w, err := toWrite(id, d.doc)
		if err != nil {
			p.refuse(b, d, err, d.fresh)
			continue
		}
		_, isOrder := d.doc.(*orderDoc)
		p.wroteOrders = p.wroteOrders || isOrder
		ws = append(ws, w.from(d.fresh))
	}
	refused, err := p.bulk(ctx, ws)
	if err != nil {
		return err
	}
	for _, r := range refused {
		p.refuse(b, b.docs[r.id], r.err, b.docs[r.id].fresh)
	}
	for _, w := range ws {
		if r, ok := b.docs[w.id].doc.(*refDoc); ok && !b.docs[w.id].refused && r.Kind != "" && p.refs != nil {
			p.refs.Add(w.id, r.Ref)
		}
	}
	return nil
}

func toWrite(id string, doc document) (write, error) {
	src, err := doc.source()
	if err != nil {
		return write{}, fmt.Errorf("%w: encode document %s: %w", eventstore.ErrUndecodable, id, err)
	}
	return write{id: id, version: doc.esVersion(), source: src}, nil
}

// from returns w with the records of the changes as its origin.
func (w write) from(changes []change) write {
	for _, ch := range changes {
		w.origin = append(w.origin, ch.rec)
	}
	return w
}
