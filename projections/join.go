package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
)

// waitingPage is the page size of the search for orders waiting for a reference.
const waitingPage = 500

func (ordersModel) references() []string { return []string{"inventory", "payments"} }

// beforeWrite joins into the batch's orders the references they lack: from the batch's own
// reference documents, else from the index (real-time _mget).
func (ordersModel) beforeWrite(ctx context.Context, p *processor, b *batch) error {
	orders := batchOrders(b)
	refs := batchRefs(b)
	if err := fetchRefs(ctx, p, refs, missingOf(orders)); err != nil {
		return err
	}
	for _, o := range orders {
		o.join(refs)
	}
	return nil
}

// afterWrite repairs, once the batch is stored, the joins that raced with a reference
// written concurrently (by another batch or another worker). Each side writes first and
// reads the other afterwards, so at least one of them sees both:
//
//   - an order stored without a reference reads the reference again (real time);
//   - a stored reference makes the orders waiting for it visible (refresh), finds them by
//     missing_refs and joins it (with every other reference they lack) into them.
//
// Repairs are written with a higher external version (more joined references), so they
// never overwrite a more complete or a newer document.
func (ordersModel) afterWrite(ctx context.Context, p *processor, b *batch) error {
	if err := repair(ctx, p, batchOrders(b)); err != nil {
		return err
	}
	refs := batchRefs(b)
	if len(refs) == 0 || (p.soleWriter && !p.wroteOrders) { // no order can wait for them
		return nil
	}
	return eachWaiting(ctx, p, slices.Sorted(maps.Keys(refs)), func(page []*orderDoc) error {
		return repair(ctx, p, page)
	})
}

// repair joins into the orders the references they lack that the index now holds, and
// writes the orders it completes.
func repair(ctx context.Context, p *processor, orders []*orderDoc) error {
	repairs := map[string]*orderDoc{}
	if err := rejoin(ctx, p, orders, repairs); err != nil {
		return err
	}
	return writeRepairs(ctx, p, repairs)
}

// rejoin reads the references the orders still lack and records the orders it completes.
func rejoin(ctx context.Context, p *processor, orders []*orderDoc, repairs map[string]*orderDoc) error {
	refs := map[string]refData{}
	if err := fetchRefs(ctx, p, refs, missingOf(orders)); err != nil {
		return err
	}
	for _, o := range orders {
		if !o.join(refs) {
			continue
		}
		if prev, ok := repairs[o.ID]; !ok || prev.esVersion() < o.esVersion() {
			repairs[o.ID] = o
		}
	}
	return nil
}

// batchOrders returns the batch's order documents that were not refused.
func batchOrders(b *batch) []*orderDoc {
	var orders []*orderDoc
	for _, id := range b.ids {
		if o, ok := b.docs[id].doc.(*orderDoc); ok && !b.docs[id].refused {
			orders = append(orders, o)
		}
	}
	return orders
}

// batchRefs returns the reference documents the batch created, by id. Only a creation can
// complete a waiting order: a reference's data never changes after its stream's first event,
// so the later events of a product or account (stock, payments: most of the traffic) need no
// search for waiting orders, nor the refresh that search needs.
func batchRefs(b *batch) map[string]refData {
	refs := map[string]refData{}
	for _, id := range b.ids {
		d := b.docs[id]
		if r, ok := d.doc.(*refDoc); ok && !d.refused && r.Kind != "" && d.stored == 0 {
			refs[id] = r.Ref
		}
	}
	return refs
}

// missingOf returns the reference ids the orders lack, without duplicates.
func missingOf(orders []*orderDoc) []string {
	seen := map[string]bool{}
	var ids []string
	for _, o := range orders {
		for _, id := range o.missing() {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// fetchRefs adds to refs the reference documents among ids that the index holds.
// Reference data never changes once created, so it is cached for good (up to
// Config.CacheSize references).
func fetchRefs(ctx context.Context, p *processor, refs map[string]refData, ids []string) error {
	ids = slices.DeleteFunc(ids, func(id string) bool {
		if _, ok := refs[id]; ok {
			return true
		}
		if p.refs == nil {
			return false
		}
		r, ok := p.refs.Get(id)
		if ok {
			refs[id] = r
		}
		return ok
	})
	if len(ids) == 0 {
		return nil
	}
	stored, err := mget(ctx, p.es, p.target, ids)
	if err != nil {
		return err
	}
	for id, s := range stored {
		var r refDoc
		if err := json.Unmarshal(s.source, &r); err != nil {
			return fmt.Errorf("projections: stored reference %s: %w", id, err)
		}
		refs[id] = r.Ref
		if p.refs != nil && r.Kind != "" {
			p.refs.Add(id, r.Ref)
		}
	}
	return nil
}

// eachWaiting refreshes the index, so that every acknowledged order is searchable, and
// calls fn with each page of the orders that lack one of the references.
func eachWaiting(ctx context.Context, p *processor, refIDs []string, fn func([]*orderDoc) error) error {
	if err := refresh(ctx, p.es, p.target); err != nil {
		return err
	}
	var after []any
	for {
		page, err := searchWaiting(ctx, p, refIDs, after)
		if err == nil && len(page) > 0 {
			err = fn(page)
		}
		if err != nil || len(page) < waitingPage {
			return err
		}
		after = []any{page[len(page)-1].ID}
	}
}

func searchWaiting(ctx context.Context, p *processor, refIDs []string, after []any) ([]*orderDoc, error) {
	query := map[string]any{
		"size": waitingPage, "sort": []any{map[string]any{"id": "asc"}},
		"query": map[string]any{"bool": map[string]any{"filter": []any{
			map[string]any{"term": map[string]any{"kind": kindOrder}},
			map[string]any{"terms": map[string]any{"missing_refs": refIDs}},
		}}},
	}
	if after != nil {
		query["search_after"] = after
	}
	data, err := p.es.do(ctx, http.MethodPost, "/"+url.PathEscape(p.target)+"/_search", query)
	if err != nil {
		return nil, fmt.Errorf("projections: search orders waiting for references: %w", err)
	}
	var answer searchAnswer[orderDoc]
	if err := decode(data, &answer); err != nil {
		return nil, err
	}
	orders := make([]*orderDoc, len(answer.Hits.Hits))
	for i := range answer.Hits.Hits {
		orders[i] = &answer.Hits.Hits[i].Source
	}
	return orders, nil
}

// writeRepairs writes the repaired orders. A refused repair is logged, not dead-lettered:
// no event is lost with it, and the order's next event retries the join.
func writeRepairs(ctx context.Context, p *processor, repairs map[string]*orderDoc) error {
	var ws []write
	for _, id := range slices.Sorted(maps.Keys(repairs)) {
		w, err := toWrite(id, repairs[id])
		if err != nil {
			return err
		}
		ws = append(ws, w)
	}
	refused, err := p.bulk(ctx, ws)
	for _, r := range refused {
		p.log.Error("order join repair refused", "projection", p.m.name(), "order", r.id, "err", r.err)
	}
	return err
}
