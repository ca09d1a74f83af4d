// Package testenv connects integration tests to the real PostgreSQL, Kafka and Elasticsearch
// servers that `make up` / `make test` start, with per-test isolation: a fresh database, fresh
// topics, fresh index names — all removed in t.Cleanup. Jaeger (see Jaeger and the jaegerapi
// subpackage) receives the spans a test exports and lets it read them back.
//
// When a server is unreachable the test is skipped with the reason, except when CI=true (or
// SHOPFLOW_REQUIRE_SERVERS=true): then it fails, so a broken environment can never pass as
// green. Addresses come from the same variables as the processes (see internal/config).
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/internal/config"
	"github.com/shopflow/shopflow/internal/elastic"
	"github.com/shopflow/shopflow/internal/kafka"
	"github.com/shopflow/shopflow/internal/postgres"
)

// Required reports whether a missing server must fail the test rather than skip it.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("SHOPFLOW_REQUIRE_SERVERS") == "true"
}

// unavailable fails (CI) or skips (laptop) the test because a server cannot be reached.
func unavailable(t testing.TB, server string, err error) {
	t.Helper()
	msg := fmt.Sprintf("%s unreachable (start it with `make up`): %v", server, err)
	if Required() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Config returns the process configuration from the environment, failing the test when it
// is invalid.
func Config(t testing.TB) config.Config {
	t.Helper()
	cfg, err := config.Load()
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// Name returns a short unique lowercase name with the given prefix, for databases, topics,
// indices and consumer groups.
func Name(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// Database creates a fresh, empty Postgres database on the server of the orders database
// URL, returns its URL and drops it (force) when the test ends.
func Database(t testing.TB) string {
	t.Helper()
	admin, err := pgx.Connect(ctx(t), Config(t).OrdersDatabaseURL)
	if err != nil {
		unavailable(t, "postgres", err)
	}
	defer admin.Close(context.Background())
	name := Name("test")
	if _, err := admin.Exec(ctx(t), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() { dropDatabase(t, name) })
	cc := admin.Config()
	return fmt.Sprintf("postgres://%s@%s:%d/%s", cc.User, cc.Host, cc.Port, name)
}

func dropDatabase(t testing.TB, name string) {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(c, Config(t).OrdersDatabaseURL)
	if err != nil {
		t.Logf("drop database %s: %v", name, err)
		return
	}
	defer admin.Close(c)
	if _, err := admin.Exec(c, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		t.Logf("drop database %s: %v", name, err)
	}
}

// Pool opens a pool on a fresh database (see Database) and closes it when the test ends.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Open(ctx(t), Database(t))
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Kafka returns a client for the configured brokers (closed when the test ends), after
// checking that the cluster answers.
func Kafka(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kafka.NewClient(Config(t).KafkaBrokers, opts...)
	if err != nil {
		t.Fatalf("kafka client: %v", err)
	}
	t.Cleanup(cl.Close)
	if err := kafka.Ping(ctx(t), cl); err != nil {
		unavailable(t, "kafka", err)
	}
	return cl
}

// Topics creates fresh topics with the given partition count, named prefix_<random> for each
// prefix, and deletes them when the test ends.
func Topics(t testing.TB, partitions int32, prefixes ...string) []string {
	t.Helper()
	cl := Kafka(t)
	names := make([]string, len(prefixes))
	for i, p := range prefixes {
		names[i] = Name(strings.ReplaceAll(p, ".", "_"))
	}
	if err := kafka.EnsureTopics(ctx(t), cl, partitions, names...); err != nil {
		t.Fatalf("create topics: %v", err)
	}
	waitTopics(t, cl, partitions, names)
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := kadm.NewClient(cl).DeleteTopics(c, names...); err != nil {
			t.Logf("delete topics %v: %v", names, err)
		}
	})
	return names
}

// waitTopics waits until the metadata shows every partition of the topics with a leader: a
// topic just created may be unknown to the broker that answers a produce for a moment, and
// on a busy machine that moment outlasted the producer's retries of an unknown topic.
func waitTopics(t testing.TB, cl *kgo.Client, partitions int32, names []string) {
	t.Helper()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(30 * time.Second)
	for {
		md, err := adm.Metadata(ctx(t), names...)
		ready := err == nil
		for _, name := range names {
			td, ok := md.Topics[name]
			ready = ready && ok && td.Err == nil && int32(len(td.Partitions)) == partitions
			for _, p := range td.Partitions {
				ready = ready && p.Err == nil && p.Leader >= 0
			}
		}
		if ready {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("topics %v not ready within 30 s: %v", names, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Elastic returns a client for the configured Elasticsearch, after checking cluster health.
func Elastic(t testing.TB) *elasticsearch.Client {
	t.Helper()
	cl, err := elastic.NewClient(Config(t).ElasticsearchURLs, Config(t).Elasticsearch.Security())
	if err != nil {
		t.Fatalf("elasticsearch client: %v", err)
	}
	if _, err := elastic.Health(ctx(t), cl); err != nil {
		unavailable(t, "elasticsearch", err)
	}
	return cl
}

// Index returns a fresh index name with the given prefix and deletes every index starting
// with it when the test ends (tests may create versioned indices name_v1, name_v2 …).
func Index(t testing.TB, cl *elasticsearch.Client, prefix string) string {
	t.Helper()
	name := Name(prefix)
	t.Cleanup(func() {
		res, err := cl.Indices.Delete([]string{name + "*"})
		if err != nil {
			t.Logf("delete index %s: %v", name, err)
			return
		}
		res.Body.Close()
	})
	return name
}
