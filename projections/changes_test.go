package projections

import "testing"

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestChangesWakeTheWatchersOfAStoredDocument(t *testing.T) {
	c := NewChanges()
	a, stopA := c.Watch(Orders, "o1")
	b, stopB := c.Watch(Orders, "o1")
	other, stopOther := c.Watch(Orders, "o2")
	product, stopProduct := c.Watch(Products, "o1") // same id, another read model
	defer stopOther()
	defer stopProduct()

	c.stored(Orders, []write{{id: "o1"}, {id: "o3"}})
	if !closed(a) || !closed(b) {
		t.Fatal("the watchers of o1 were not woken by its store")
	}
	if closed(other) || closed(product) {
		t.Fatal("watchers of documents not stored were woken")
	}
	stopA()
	stopB()

	// A watch after the store waits for the next one.
	again, stopAgain := c.Watch(Orders, "o1")
	if closed(again) {
		t.Fatal("a new watch of o1 is ready before o1 is stored again")
	}
	stopAgain()
	stopOther()
	stopProduct()
	if len(c.watches) != 0 {
		t.Fatalf("%d watches left after every watcher stopped", len(c.watches))
	}
}

func TestNilChangesWatchNothing(t *testing.T) {
	var c *Changes
	ch, stop := c.Watch(Orders, "o1")
	c.stored(Orders, []write{{id: "o1"}})
	stop()
	if ch != nil {
		t.Fatal("a nil Changes returned a channel")
	}
}
