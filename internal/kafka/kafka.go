// Package kafka builds franz-go clients and owns the list of Shopflow's topics.
//
// Topics keep events forever (retention.ms=-1, never compacted) because replaying them is how
// a projection is rebuilt. The broker has topic auto-creation off: EnsureTopics creates them.
package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Ping checks that at least one broker answers a metadata request.
func Ping(ctx context.Context, cl *kgo.Client) error {
	if _, err := kadm.NewClient(cl).ListBrokers(ctx); err != nil {
		return fmt.Errorf("kafka: list brokers: %w", err)
	}
	return nil
}

// EventsTopic is the topic a bounded context publishes its events to.
func EventsTopic(context string) string { return context + ".events" }

// DeadLetterTopic is the topic where a consumer of the given context parks messages it can
// never process, with the error and the source coordinates in headers.
func DeadLetterTopic(context string) string { return context + ".dlt" }

// Topics lists every topic Shopflow uses for the given contexts: their event topics, their
// dead-letter topics, and the projections' dead-letter topic.
func Topics(contexts []string) []string {
	var topics []string
	for _, c := range contexts {
		topics = append(topics, EventsTopic(c), DeadLetterTopic(c))
	}
	return append(topics, DeadLetterTopic("projections"))
}

// NewClient returns a client for the seed brokers; opts are appended (producer or consumer
// settings). The client connects lazily; use Ping to check the cluster is reachable.
func NewClient(brokers []string, opts ...kgo.Opt) (*kgo.Client, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka: new client: %w", err)
	}
	return cl, nil
}

// EnsureTopics creates the missing topics with the given partition count, the broker's default
// replication factor and infinite retention. Existing topics are left as they are.
func EnsureTopics(ctx context.Context, cl *kgo.Client, partitions int32, topics ...string) error {
	retention := "-1"
	cleanup := "delete"
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, -1,
		map[string]*string{"retention.ms": &retention, "cleanup.policy": &cleanup}, topics...)
	if err != nil {
		return fmt.Errorf("kafka: create topics: %w", err)
	}
	var errs []error
	for _, r := range resp.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("kafka: create topic %s: %w", r.Topic, r.Err))
		}
	}
	return errors.Join(errs...)
}
