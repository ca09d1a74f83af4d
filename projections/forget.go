package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// scrubPage is the page size of the search for a forgotten customer's documents.
const scrubPage = 500

// forgetter is implemented by models whose documents copy a customer's personal data.
type forgetter interface {
	// scrub replaces the personal data of customer id in every document of index.
	scrub(ctx context.Context, p *processor, index, id string) error
	// recheck, after the batch is written, replaces the data of customers forgotten
	// meanwhile in the documents the batch wrote.
	recheck(ctx context.Context, p *processor, b *batch) error
}

// forgetCustomers makes sure no document of the model holds the personal data of a
// customer the batch forgot (CustomerForgotten), in every generation of its index: the
// live one, one a rebuild is building, an old one not yet deleted. Each side of a race
// writes first and reads the other afterwards: a forget writes the forgotten reference,
// then searches the documents that still hold the data; a writer of such a document reads
// the reference again after its write (recheck). So whichever comes second sees the other.
func (p *processor) forgetCustomers(ctx context.Context, b *batch) error {
	f, ok := p.m.(forgetter)
	if !ok {
		return nil
	}
	if err := f.recheck(ctx, p, b); err != nil || len(b.forgotten) == 0 {
		return err
	}
	ix := indices{es: p.es, cfg: p.cfg, model: p.m}
	gens, err := ix.generations(ctx)
	if err != nil {
		return fmt.Errorf("projections: forget customers: %w", err)
	}
	for _, index := range gens {
		if err := ix.upgrade(ctx, index); err != nil {
			return err
		}
		for _, id := range b.forgotten {
			if err := f.scrub(ctx, p, index, id); err != nil {
				return fmt.Errorf("projections: forget customer %s in %s: %w", id, index, err)
			}
		}
	}
	for _, id := range b.forgotten {
		if p.refs != nil {
			p.refs.Remove(customerRef(id))
		}
		p.log.Info("customer forgotten in read model", "projection", p.m.name(), "customer", id, "indices", len(gens))
	}
	return nil
}

// writeInto indexes ws into index (not the processor's target) and fails on any refusal
// for good. The written documents are dropped from the processor's cache.
func (p *processor) writeInto(ctx context.Context, index string, ws []write) error {
	out, err := bulk(ctx, p.es, index, false, ws)
	for _, w := range ws {
		p.forget(w.id)
	}
	if err == nil && len(out.rejected) > 0 {
		err = out.rejected[0].err
	}
	return err
}

// scrub forgets customer id in a customers index: its one document.
func (customersModel) scrub(ctx context.Context, p *processor, index, id string) error {
	stored, err := mget(ctx, p.es, index, []string{id})
	s, ok := stored[id]
	if err != nil || !ok {
		return err
	}
	d := &customerDoc{}
	if err := json.Unmarshal(s.source, d); err != nil || d.Forgotten {
		return err
	}
	d.forget()
	w, err := toWrite(id, d)
	if err != nil {
		return err
	}
	return p.writeInto(ctx, index, []write{w})
}

// recheck is not needed for customers: a customer's document is written only from its own
// stream, whose CustomerForgotten comes after every event it holds.
func (customersModel) recheck(context.Context, *processor, *batch) error { return nil }

// scrub forgets customer id in an orders index: its reference document, then every order
// that joined it, page by page until none is left.
func (ordersModel) scrub(ctx context.Context, p *processor, index, id string) error {
	if err := scrubRef(ctx, p, index, customerRef(id)); err != nil {
		return err
	}
	for range 10_000 { // a bound, not a limit: each round forgets up to a page of orders
		if err := refresh(ctx, p.es, index); err != nil {
			return err
		}
		orders, err := searchCustomerOrders(ctx, p, index, id)
		if err != nil || len(orders) == 0 {
			return err
		}
		ws := make([]write, 0, len(orders))
		for _, o := range orders {
			o.Customer = &OrderCustomer{Forgotten: true}
			w, err := toWrite(o.ID, o)
			if err != nil {
				return err
			}
			ws = append(ws, w)
		}
		if err := p.writeInto(ctx, index, ws); err != nil {
			return err
		}
	}
	return fmt.Errorf("projections: orders of customer %s keep appearing in %s", id, index)
}

// scrubRef replaces a customer's reference document by a forgotten one.
func scrubRef(ctx context.Context, p *processor, index, refID string) error {
	stored, err := mget(ctx, p.es, index, []string{refID})
	s, ok := stored[refID]
	if err != nil || !ok {
		return err
	}
	r := &refDoc{}
	if err := json.Unmarshal(s.source, r); err != nil || r.Ref.Forgotten {
		return err
	}
	r.Ref = refData{Forgotten: true}
	w, err := toWrite(refID, r)
	if err != nil {
		return err
	}
	return p.writeInto(ctx, index, []write{w})
}

// searchCustomerOrders returns a page of the orders of customer id that hold its data.
func searchCustomerOrders(ctx context.Context, p *processor, index, id string) ([]*orderDoc, error) {
	query := map[string]any{
		"size": scrubPage,
		"query": map[string]any{"bool": map[string]any{
			"filter": []any{
				map[string]any{"term": map[string]any{"kind": kindOrder}},
				map[string]any{"term": map[string]any{"customer_id": id}},
				map[string]any{"exists": map[string]any{"field": "customer.email"}},
			},
			"must_not": []any{map[string]any{"term": map[string]any{"customer.forgotten": true}}},
		}},
	}
	data, err := p.es.do(ctx, http.MethodPost, "/"+url.PathEscape(index)+"/_search", query)
	if err != nil {
		return nil, fmt.Errorf("projections: search orders of customer %s: %w", id, err)
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

// recheck reads again (in real time, past the cache) the customer references of the orders
// the batch wrote with a customer's data, and rewrites those whose customer was forgotten
// meanwhile.
func (ordersModel) recheck(ctx context.Context, p *processor, b *batch) error {
	var orders []*orderDoc
	seen := map[string]bool{}
	var ids []string
	for _, o := range batchOrders(b) {
		if o.Customer == nil || o.Customer.Forgotten {
			continue
		}
		orders = append(orders, o)
		if ref := customerRef(o.CustomerID); !seen[ref] {
			seen[ref] = true
			ids = append(ids, ref)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	stored, err := mget(ctx, p.es, p.target, ids)
	if err != nil {
		return err
	}
	refs := map[string]refData{}
	for id, s := range stored {
		var r refDoc
		if err := json.Unmarshal(s.source, &r); err != nil {
			return fmt.Errorf("projections: stored reference %s: %w", id, err)
		}
		if r.Ref.Forgotten {
			refs[id] = r.Ref
			if p.refs != nil {
				p.refs.Add(id, r.Ref)
			}
		}
	}
	repairs := map[string]*orderDoc{}
	for _, o := range orders {
		if o.join(refs) {
			repairs[o.ID] = o
		}
	}
	return writeRepairs(ctx, p, repairs)
}
