package testenv_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/internal/testenv"
)

// These smoke tests prove the three real servers answer the operations Shopflow relies on.

func TestPostgresWriteRead(t *testing.T) {
	pool := testenv.Pool(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE smoke (id int PRIMARY KEY, note text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO smoke VALUES (1, 'hello')`); err != nil {
		t.Fatal(err)
	}
	var note, walLevel string
	if err := pool.QueryRow(ctx, `SELECT note, current_setting('wal_level') FROM smoke WHERE id = 1`).Scan(&note, &walLevel); err != nil {
		t.Fatal(err)
	}
	if note != "hello" {
		t.Errorf("read %q, want hello", note)
	}
	if walLevel != "logical" {
		t.Errorf("wal_level = %q, want logical", walLevel)
	}
}

func TestKafkaProduceConsume(t *testing.T) {
	topic := testenv.Topics(t, 3, "smoke")[0]
	producer := testenv.Kafka(t, kgo.RequiredAcks(kgo.AllISRAcks()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec := &kgo.Record{Topic: topic, Key: []byte("stream-1"), Value: []byte("hello")}
	if err := producer.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	consumer := testenv.Kafka(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for {
		fetches := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("no record consumed: %v", err)
		}
		fetches.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		if recs := fetches.Records(); len(recs) > 0 {
			if got := string(recs[0].Value); got != "hello" || string(recs[0].Key) != "stream-1" {
				t.Fatalf("consumed key=%q value=%q", recs[0].Key, got)
			}
			return
		}
	}
}

func TestElasticsearchIndexSearch(t *testing.T) {
	es := testenv.Elastic(t)
	index := testenv.Index(t, es, "smoke")
	res, err := es.Index(index, strings.NewReader(`{"name":"Blue running shoe","sku":"SH-1"}`),
		es.Index.WithDocumentID("p1"), es.Index.WithRefresh("true"))
	if err != nil || res.IsError() {
		t.Fatalf("index: %v %v", err, res)
	}
	res.Body.Close()
	if h := res.Header.Get("X-Elastic-Product"); h != "Elasticsearch" {
		t.Errorf("X-Elastic-Product = %q", h)
	}
	res, err = es.Search(es.Search.WithIndex(index),
		es.Search.WithBody(strings.NewReader(`{"query":{"match":{"name":"running"}}}`)))
	if err != nil || res.IsError() {
		t.Fatalf("search: %v %v", err, res)
	}
	defer res.Body.Close()
	var body struct {
		Hits struct {
			Hits []struct {
				ID string `json:"_id"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if len(body.Hits.Hits) != 1 || body.Hits.Hits[0].ID != "p1" {
		t.Fatalf("hits = %+v, want p1", body.Hits.Hits)
	}
}
