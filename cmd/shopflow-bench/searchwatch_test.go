package main

import (
	"context"
	"sync"
	"testing"
	"time"
)

// A search watch asks for what was created since the oldest document it awaits and releases
// each awaited document on the page that returns it.
func TestSearchWatchFindsAwaitedDocuments(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t0 := time.Now()
	var mu sync.Mutex
	visible := map[string]bool{}
	var sinces []time.Time
	w := watchSearches(ctx, func(_ context.Context, since time.Time, found func([]string)) error {
		mu.Lock()
		defer mu.Unlock()
		sinces = append(sinces, since)
		var ids []string
		for id := range visible {
			ids = append(ids, id)
		}
		found(ids[:len(ids)/2]) // two pages
		found(ids[len(ids)/2:])
		return nil
	})

	done := make(chan error, 2)
	go func() { done <- w.await(ctx, "late", t0.Add(time.Second)) }()
	go func() { done <- w.await(ctx, "early", t0) }()
	time.Sleep(3 * searchPoll)
	select {
	case err := <-done:
		t.Fatalf("await returned before its document was visible: %v", err)
	default:
	}
	mu.Lock()
	visible["early"], visible["late"], visible["other"] = true, true, true
	mu.Unlock()
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("await did not return once its document was visible")
		}
	}

	// The search that found both was made while both were awaited (long since registered):
	// from shortly before the older one's creation.
	mu.Lock()
	defer mu.Unlock()
	if since := sinces[len(sinces)-1]; !since.Before(t0) || t0.Sub(since) > time.Second {
		t.Fatalf("searched since %v, want shortly before the oldest awaited creation %v", since, t0)
	}
}
