package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// searchWatch measures when documents become searchable with a single poller, so that the
// measuring is not a load of its own: every searchPoll, one search (paged if need be) for
// what has been created since the oldest document still awaited, and every awaited document
// it returns is found. Polling each document with a search of its own, as an earlier version
// of this benchmark did, took a few hundred searches/s at 200 orders/s: that much of a
// two-core Elasticsearch's capacity slowed the very indexing and refreshes it measured.
type searchWatch struct {
	// visibleSince passes to found, a page at a time, the ids a search returns among the
	// documents created at or after since.
	visibleSince visibleSince

	mu      sync.Mutex
	awaited map[string]awaitedDoc
	err     error // the first failed poll
}

type awaitedDoc struct {
	created time.Time // at or before the document's creation time
	found   chan struct{}
}

type visibleSince func(ctx context.Context, since time.Time, found func(ids []string)) error

// watchSearches polls with visibleSince until ctx ends.
func watchSearches(ctx context.Context, visibleSince visibleSince) *searchWatch {
	w := &searchWatch{visibleSince: visibleSince, awaited: map[string]awaitedDoc{}}
	go func() {
		for ctx.Err() == nil {
			if err := w.poll(ctx); err != nil && ctx.Err() == nil {
				w.mu.Lock()
				w.err = cmp.Or(w.err, err)
				w.mu.Unlock()
			}
			time.Sleep(searchPoll)
		}
	}()
	return w
}

// await returns once a search has returned the document id, created at or after created.
func (w *searchWatch) await(ctx context.Context, id string, created time.Time) error {
	found := make(chan struct{})
	w.mu.Lock()
	w.awaited[id] = awaitedDoc{created: created, found: found}
	w.mu.Unlock()
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	select {
	case <-found:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-timeout.C:
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.awaited, id)
	return fmt.Errorf("%s not searchable after 30s (last failed search: %v)", id, w.err)
}

func (w *searchWatch) poll(ctx context.Context) error {
	w.mu.Lock()
	var oldest time.Time
	for _, a := range w.awaited {
		if oldest.IsZero() || a.created.Before(oldest) {
			oldest = a.created
		}
	}
	w.mu.Unlock()
	if oldest.IsZero() {
		return nil
	}
	// Stored times are milliseconds; a margin keeps any rounding on the safe side.
	return w.visibleSince(ctx, oldest.Add(-50*time.Millisecond), w.found)
}

func (w *searchWatch) found(ids []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range ids {
		if a, ok := w.awaited[id]; ok {
			close(a.found)
			delete(w.awaited, id)
		}
	}
}

// readAPIOrdersSince searches the read API for the orders placed since a time, oldest first
// (the orders awaited longest are on the first page), following the cursor to the last page:
// a client's search with a created range.
func readAPIOrdersSince(client *http.Client, base string) visibleSince {
	return func(ctx context.Context, since time.Time, found func([]string)) error {
		query := base + "/v1/orders?sort=placed_at&size=100&created_from=" +
			url.QueryEscape(since.UTC().Format(time.RFC3339Nano))
		for next := query; next != ""; {
			var page struct {
				Items []struct {
					ID string `json:"id"`
				} `json:"items"`
				NextCursor string `json:"next_cursor"`
			}
			if err := getJSON(ctx, client, next, &page); err != nil {
				return err
			}
			ids := make([]string, len(page.Items))
			for i, o := range page.Items {
				ids[i] = o.ID
			}
			found(ids)
			next = ""
			if page.NextCursor != "" {
				next = query + "&cursor=" + url.QueryEscape(page.NextCursor)
			}
		}
		return nil
	}
}

// getJSON decodes the answer to a GET into v; an answer other than 200 is an error.
func getJSON(ctx context.Context, client *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fmt.Errorf("GET %s: %s %s", url, res.Status, body)
	}
	err = json.NewDecoder(res.Body).Decode(v)
	_, _ = io.Copy(io.Discard, res.Body) // read to the end, so the connection is reused
	return err
}
