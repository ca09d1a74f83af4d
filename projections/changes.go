package projections

import "sync"

// Changes tells the reads by id of a process when the projection workers of the same process
// store a document, so that a read waiting for a version (read-your-writes: the read API's
// min_version) is answered as soon as the document is stored instead of polling
// Elasticsearch for it. Share one between the workers and the Reader through
// Config.Changes. Documents stored by the workers of other processes (they share the
// partitions of a consumer group) are only seen by polling. Safe for concurrent use; create
// it with NewChanges. A nil *Changes watches nothing.
type Changes struct {
	mu      sync.Mutex
	watches map[changeKey]*watch
}

type changeKey struct{ model, id string }

// watch is the channel of the readers waiting for one document.
type watch struct {
	changed chan struct{} // closed at the document's next store
	waiters int
}

// NewChanges returns an empty Changes.
func NewChanges() *Changes { return &Changes{watches: map[changeKey]*watch{}} }

// Watch returns a channel closed the next time a worker of this process stores document id
// of the read model (Orders, Products or Customers), whatever its version, and the function
// to call once no longer waiting. Watch before reading the document, so that a store
// between the read and the wait is not missed. A nil *Changes returns a nil channel.
func (c *Changes) Watch(model, id string) (changed <-chan struct{}, stop func()) {
	if c == nil {
		return nil, func() {}
	}
	k := changeKey{model, id}
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.watches[k]
	if w == nil {
		w = &watch{changed: make(chan struct{})}
		c.watches[k] = w
	}
	w.waiters++
	return w.changed, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if w.waiters--; w.waiters == 0 && c.watches[k] == w {
			delete(c.watches, k)
		}
	}
}

// stored wakes the readers waiting for the documents of ws, which Elasticsearch has just
// acknowledged (or answered that it holds a newer version of).
func (c *Changes) stored(model string, ws []write) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.watches) == 0 {
		return
	}
	for _, w := range ws {
		k := changeKey{model, w.id}
		if x := c.watches[k]; x != nil {
			close(x.changed)
			delete(c.watches, k)
		}
	}
}
