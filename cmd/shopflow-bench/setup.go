package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/kafka"
	"github.com/shopflow/shopflow/internal/postgres"
)

func randomName(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// freshDatabase creates a migrated database on the orders server, returns a pool of maxConns
// on it and a cleanup that drops it.
func freshDatabase(ctx context.Context, o options, maxConns int) (*pgxpool.Pool, func(), error) {
	adminURL := o.cfg.OrdersDatabaseURL
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return nil, nil, err
	}
	name := randomName("bench")
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close(ctx)
		return nil, nil, err
	}
	drop := func() {
		_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close(context.Background())
	}
	u, _ := url.Parse(adminURL)
	u.Path = "/" + name
	dbURL := u.String()
	if err := eventstore.Migrate(dbURL); err != nil {
		drop()
		return nil, nil, err
	}
	sep := "?"
	if strings.Contains(dbURL, "?") {
		sep = "&"
	}
	pool, err := postgres.Open(ctx, fmt.Sprintf("%s%spool_max_conns=%d", dbURL, sep, maxConns))
	if err != nil {
		drop()
		return nil, nil, err
	}
	return pool, func() { pool.Close(); drop() }, nil
}

// freshTopic creates a topic with the configured partition count and returns a cleanup that
// deletes it.
func freshTopic(ctx context.Context, o options, prefix string) (string, func(), error) {
	cl, err := kafka.NewClient(o.cfg.KafkaBrokers)
	if err != nil {
		return "", nil, err
	}
	name := randomName(prefix)
	if err := kafka.EnsureTopics(ctx, cl, o.cfg.KafkaPartitions, name); err != nil {
		cl.Close()
		return "", nil, err
	}
	if err := waitLeaders(ctx, kadm.NewClient(cl), name); err != nil {
		cl.Close()
		return "", nil, err
	}
	return name, func() {
		_, _ = kadm.NewClient(cl).DeleteTopics(context.Background(), name)
		cl.Close()
	}, nil
}

// waitLeaders waits until every partition of a new topic has a leader: a producer that
// starts at once otherwise meets UNKNOWN_TOPIC_OR_PARTITION and backs off for seconds,
// which would be timed as the code under test.
func waitLeaders(ctx context.Context, adm *kadm.Client, topic string) error {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return err
		}
		t, ok := md.Topics[topic]
		if ok && t.Err == nil && len(t.Partitions) > 0 && allLed(t.Partitions) {
			return nil
		}
	}
	return fmt.Errorf("topic %s has no leaders after 30s", topic)
}

func allLed(ps kadm.PartitionDetails) bool {
	for _, p := range ps {
		if p.Err != nil || p.Leader < 0 {
			return false
		}
	}
	return true
}
