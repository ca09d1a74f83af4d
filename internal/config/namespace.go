package config

import (
	"regexp"

	"github.com/shopflow/shopflow/internal/kafka"
)

// validNamespace is what a namespace may hold: it becomes part of topic, consumer group and
// Elasticsearch index names, which allow lowercase letters, digits, '_' and '-'.
var validNamespace = regexp.MustCompile(`^([a-z0-9][a-z0-9_-]{0,39})?$`)

// The names of a deployment's Kafka and Elasticsearch resources. With SHOPFLOW_NAMESPACE
// empty (the default) they are the plain names ("orders.events", consumer group
// "shopflow.sagas.orders", alias "orders"); with a namespace every one of them starts with
// it, so that several deployments (staging and a load test, or an end-to-end test beside a
// developer's `make up`) share one Kafka and one Elasticsearch cluster without meeting.

// prefixed returns name in the namespace, with sep between them.
func (c Config) prefixed(name, sep string) string {
	if c.Namespace == "" {
		return name
	}
	return c.Namespace + sep + name
}

// EventsTopic is the event topic of a context.
func (c Config) EventsTopic(context string) string {
	return c.prefixed(kafka.EventsTopic(context), ".")
}

// DeadLetterTopic is the dead-letter topic of a context's reactor, or of the projections.
func (c Config) DeadLetterTopic(context string) string {
	return c.prefixed(kafka.DeadLetterTopic(context), ".")
}

// Topics lists every topic of the deployment (see kafka.Topics).
func (c Config) Topics() []string {
	var out []string
	for _, t := range kafka.Topics(Contexts) {
		out = append(out, c.prefixed(t, "."))
	}
	return out
}

// SagaGroup is the consumer group of a context's reactor.
func (c Config) SagaGroup(context string) string { return c.prefixed("shopflow.sagas."+context, ".") }

// ProjectionGroupPrefix starts the consumer group names of the read models' live workers.
func (c Config) ProjectionGroupPrefix() string { return c.prefixed("shopflow.projections.", ".") }

// IndexPrefix starts the read models' Elasticsearch alias and index names.
func (c Config) IndexPrefix() string { return c.prefixed("", "-") }
