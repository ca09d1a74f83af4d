package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/shopflow/shopflow/internal/elastic"
)

// quiesceTimeout bounds the wait for a quiet Elasticsearch before a benchmark.
const quiesceTimeout = 2 * time.Minute

// quiesce waits until Elasticsearch runs no merge, so that a benchmark does not pay for the
// segments the previous one left (a million-document bulk keeps it merging for a while).
// It gives up after quiesceTimeout with a warning: a figure is then noisier, not wrong.
func quiesce(ctx context.Context, o options) {
	es, err := elastic.NewClient(o.cfg.ElasticsearchURLs, o.cfg.Elasticsearch.Security())
	if err != nil {
		return
	}
	deadline := time.Now().Add(quiesceTimeout)
	for ctx.Err() == nil {
		res, err := es.Nodes.Stats(es.Nodes.Stats.WithMetric("indices"), es.Nodes.Stats.WithIndexMetric("merge"),
			es.Nodes.Stats.WithContext(ctx))
		if err != nil {
			return
		}
		var stats struct {
			Nodes map[string]struct {
				Indices struct {
					Merges struct {
						Current int `json:"current"`
					} `json:"merges"`
				} `json:"indices"`
			} `json:"nodes"`
		}
		err = json.NewDecoder(res.Body).Decode(&stats)
		res.Body.Close()
		merging := 0
		for _, n := range stats.Nodes {
			merging += n.Indices.Merges.Current
		}
		if err != nil || merging == 0 {
			return
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "warning: Elasticsearch still runs %d merges after %s; measuring anyway\n", merging, quiesceTimeout)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}
