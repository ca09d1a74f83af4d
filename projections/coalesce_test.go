package projections

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"

	"github.com/shopflow/shopflow/internal/testenv"
)

// TestConcurrentReadsByIDShareOneMget holds the first _mget at a proxy until every other
// read has queued behind it, then checks that they all went out in one more request and
// each got its own document (or none), against the real Elasticsearch.
func TestConcurrentReadsByIDShareOneMget(t *testing.T) {
	es := testenv.Elastic(t)
	index := testenv.Index(t, es, "coalesce")
	const docs, readers = 20, 100
	var bulkBody strings.Builder
	for i := range docs {
		fmt.Fprintf(&bulkBody, "{\"index\":{\"_index\":%q,\"_id\":\"d%d\",\"version\":%d,\"version_type\":\"external\"}}\n{\"n\":%d}\n", index, i, i+1, i)
	}
	res, err := es.Bulk(strings.NewReader(bulkBody.String()), es.Bulk.WithRefresh("true"))
	if err != nil || res.IsError() {
		t.Fatalf("bulk: %v %v", res, err)
	}
	res.Body.Close()

	release := make(chan struct{})
	var mgets atomic.Int64
	c := &getCoalescer{es: esClient{proxiedElastic(t, func(r *http.Request) {
		if r.URL.Path == "/_mget" && mgets.Add(1) == 1 {
			<-release
		}
	})}}
	type answer struct {
		doc   storedDoc
		found bool
		err   error
	}
	answers := make([]answer, readers)
	read := func(i int) {
		a := &answers[i]
		a.doc, a.found, a.err = c.get(context.Background(), index, fmt.Sprintf("d%d", i%(docs+1)))
	}
	var wg sync.WaitGroup
	wg.Go(func() { read(0) })
	waitFor(t, "the first _mget", func() bool { return mgets.Load() == 1 })
	for i := 1; i < readers; i++ {
		wg.Go(func() { read(i) })
	}
	waitFor(t, "the reads to queue behind the first", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.queue) == readers-1
	})
	close(release)
	wg.Wait()

	if n := mgets.Load(); n != 2 {
		t.Errorf("%d _mget requests for %d reads, want 2", n, readers)
	}
	for i, a := range answers {
		n := i % (docs + 1)
		switch {
		case a.err != nil:
			t.Errorf("read d%d: %v", n, a.err)
		case n == docs && a.found:
			t.Errorf("read d%d (never indexed) found %s", n, a.doc.source)
		case n < docs && (!a.found || a.doc.version != int64(n+1) || string(a.doc.source) != fmt.Sprintf(`{"n":%d}`, n)):
			t.Errorf("read d%d = %s version %d found %v", n, a.doc.source, a.doc.version, a.found)
		}
	}
	if _, found, err := c.get(context.Background(), index+"_absent", "d1"); err != nil || found {
		t.Errorf("read from a missing index: found %v, %v; want not found", found, err)
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// proxiedElastic returns a client whose requests go through a proxy to the real server
// that calls see first.
func proxiedElastic(t testing.TB, see func(*http.Request)) *elasticsearch.Client {
	return testenv.ElasticProxy(t, func(_ http.ResponseWriter, r *http.Request) bool { see(r); return false })
}
