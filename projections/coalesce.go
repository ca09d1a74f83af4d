package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// coalescedGetTimeout bounds one _mget of coalesced reads; a caller stops waiting earlier
// when its own context ends.
const coalescedGetTimeout = 10 * time.Second

// getCoalescer turns concurrent real-time reads by id into _mget requests: the first read
// goes out at once, and the reads that arrive while an _mget is in flight go out together
// in the next one. Under load, the read API's waits for min_version (each polling its
// document) then cost Elasticsearch one request per round instead of one per waiting
// client; alone, a read costs what a GET costs. Safe for concurrent use.
type getCoalescer struct {
	es      esClient
	mu      sync.Mutex
	queue   []*getCall
	running bool // a goroutine is draining the queue
}

// getCall is one read by id waiting for its answer.
type getCall struct {
	ctx       context.Context
	index, id string
	done      chan struct{}
	doc       storedDoc
	found     bool
	err       error
	retried   bool // re-queued once after the index behind the alias went away
}

// get reads document id of index (an alias) in real time. found is false when the index
// does not hold it (or does not exist); err wraps ErrUnavailable when Elasticsearch cannot
// answer.
func (c *getCoalescer) get(ctx context.Context, index, id string) (doc storedDoc, found bool, err error) {
	call := &getCall{ctx: ctx, index: index, id: id, done: make(chan struct{})}
	c.enqueue(call)
	select {
	case <-call.done:
		return call.doc, call.found, call.err
	case <-ctx.Done():
		return storedDoc{}, false, ctx.Err()
	}
}

func (c *getCoalescer) enqueue(calls ...*getCall) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queue = append(c.queue, calls...)
	if !c.running {
		c.running = true
		go c.drain()
	}
}

// drain sends the queued reads, mgetChunk at most per request, until the queue is empty.
func (c *getCoalescer) drain() {
	for {
		c.mu.Lock()
		n := min(len(c.queue), mgetChunk)
		if n == 0 {
			c.running = false
			c.mu.Unlock()
			return
		}
		calls := c.queue[:n:n]
		c.queue = c.queue[n:]
		c.mu.Unlock()
		c.fetch(calls)
	}
}

// fetch answers calls with one _mget; callers that gave up are left out.
func (c *getCoalescer) fetch(calls []*getCall) {
	type docRef struct {
		Index string `json:"_index"`
		ID    string `json:"_id"`
	}
	live := calls[:0:0]
	var docs []docRef
	for _, call := range calls {
		if call.ctx.Err() != nil {
			close(call.done) // nobody reads the answer
			continue
		}
		live = append(live, call)
		docs = append(docs, docRef{call.index, call.id})
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), coalescedGetTimeout)
	defer cancel()
	data, err := c.es.do(ctx, http.MethodPost, "/_mget", map[string]any{"docs": docs})
	var answer struct {
		Docs []struct {
			Found   bool            `json:"found"`
			Version int64           `json:"_version"`
			Source  json.RawMessage `json:"_source"`
			Error   *struct {
				Type   string `json:"type"`
				Reason string `json:"reason"`
			} `json:"error"`
		} `json:"docs"`
	}
	if err == nil {
		err = decode(data, &answer)
	}
	if err == nil && len(answer.Docs) != len(live) {
		err = fmt.Errorf("%w: _mget answered %d documents for %d", ErrUnavailable, len(answer.Docs), len(live))
	}
	var again []*getCall
	for i, call := range live {
		if err != nil {
			call.err = fmt.Errorf("projections: get %s %s: %w", call.index, call.id, err)
			close(call.done)
			continue
		}
		d := answer.Docs[i]
		switch {
		case d.Error == nil:
			call.doc, call.found = storedDoc{source: d.Source, version: d.Version}, d.Found
		case d.Error.Type == "index_not_found_exception" && !call.retried:
			// A rebuild's swap deleted the index between resolving the alias and reading
			// it: the next request resolves the alias again.
			call.retried = true
			again = append(again, call)
			continue
		case d.Error.Type == "index_not_found_exception": // no worker created the read model yet
		default:
			call.err = fmt.Errorf("projections: get %s %s: %w", call.index, call.id,
				&esError{Status: http.StatusServiceUnavailable, Type: d.Error.Type, Reason: d.Error.Reason})
		}
		close(call.done)
	}
	if len(again) > 0 {
		c.mu.Lock()
		c.queue = append(c.queue, again...) // drain is running: it sends them next
		c.mu.Unlock()
	}
}
