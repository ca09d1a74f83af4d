package sagas

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/kafka"
)

// Headers a reactor adds to a dead-lettered record, besides the original record's key,
// value and headers.
const (
	// HeaderDLTError is the error that made the message unprocessable (at most
	// MaxDeadLetterError bytes).
	HeaderDLTError = "dlt-error"
	// HeaderDLTSourceTopic, HeaderDLTSourcePartition and HeaderDLTSourceOffset locate the
	// original record.
	HeaderDLTSourceTopic     = "dlt-source-topic"
	HeaderDLTSourcePartition = "dlt-source-partition"
	HeaderDLTSourceOffset    = "dlt-source-offset"
	// HeaderDLTReactor names the context whose reactor gave up, e.g. "inventory".
	HeaderDLTReactor = "dlt-reactor"
	// HeaderDLTFailedAt is when it gave up (RFC 3339, UTC).
	HeaderDLTFailedAt = "dlt-failed-at"
	// HeaderDLTRedrivenFrom marks a record Redrive re-published: "<topic>/<partition>/<offset>"
	// of the dead letter it came from.
	HeaderDLTRedrivenFrom = "dlt-redriven-from"
)

// MaxDeadLetterError bounds the error text kept in a dead letter's header.
const MaxDeadLetterError = 4096

// dltHeaders are the headers deadLetterRecord sets; a record dead-lettered again (after a
// redrive) gets fresh values instead of a second copy.
var dltHeaders = []string{HeaderDLTError, HeaderDLTSourceTopic, HeaderDLTSourcePartition,
	HeaderDLTSourceOffset, HeaderDLTReactor, HeaderDLTFailedAt}

// deadLetterRecord builds the dead-letter record of rec: same key, value and headers, plus
// the error and the source coordinates. The record timestamp is left to the producer.
func deadLetterRecord(topic, reactor string, rec *kgo.Record, cause error, at time.Time) *kgo.Record {
	msg := cause.Error()
	if len(msg) > MaxDeadLetterError {
		msg = msg[:MaxDeadLetterError]
	}
	h := withoutHeaders(rec.Headers, dltHeaders...)
	h = append(h,
		kgo.RecordHeader{Key: HeaderDLTError, Value: []byte(msg)},
		kgo.RecordHeader{Key: HeaderDLTSourceTopic, Value: []byte(rec.Topic)},
		kgo.RecordHeader{Key: HeaderDLTSourcePartition, Value: []byte(strconv.Itoa(int(rec.Partition)))},
		kgo.RecordHeader{Key: HeaderDLTSourceOffset, Value: []byte(strconv.FormatInt(rec.Offset, 10))},
		kgo.RecordHeader{Key: HeaderDLTReactor, Value: []byte(reactor)},
		kgo.RecordHeader{Key: HeaderDLTFailedAt, Value: []byte(at.UTC().Format(time.RFC3339Nano))},
	)
	return &kgo.Record{Topic: topic, Key: rec.Key, Value: rec.Value, Headers: h}
}

// withoutHeaders returns a copy of h without the given keys.
func withoutHeaders(h []kgo.RecordHeader, keys ...string) []kgo.RecordHeader {
	out := make([]kgo.RecordHeader, 0, len(h)+len(dltHeaders)+1)
	for _, x := range h {
		drop := false
		for _, k := range keys {
			drop = drop || x.Key == k
		}
		if !drop {
			out = append(out, x)
		}
	}
	return out
}

// DeadLetter is a message a reactor could never process, as stored in its dead-letter
// topic.
type DeadLetter struct {
	// Topic, Partition and Offset locate the dead letter itself.
	Topic     string
	Partition int32
	Offset    int64
	// SourceTopic, SourcePartition and SourceOffset locate the original record.
	SourceTopic     string
	SourcePartition int32
	SourceOffset    int64
	// Reactor is the context whose reactor gave up.
	Reactor string
	// Error is why.
	Error string
	// FailedAt is when.
	FailedAt time.Time
	// EventType and EventID come from the original record's headers ("" if it had none).
	EventType string
	EventID   string
	// Key, Value and Headers are the original record's (without the dlt-* headers).
	Key     []byte
	Value   []byte
	Headers []kgo.RecordHeader
}

// parseDeadLetter reads a record of a dead-letter topic.
func parseDeadLetter(rec *kgo.Record) DeadLetter {
	d := DeadLetter{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Key: rec.Key, Value: rec.Value}
	d.SourcePartition, d.SourceOffset = -1, -1
	for _, h := range rec.Headers {
		v := string(h.Value)
		switch h.Key {
		case HeaderDLTError:
			d.Error = v
		case HeaderDLTSourceTopic:
			d.SourceTopic = v
		case HeaderDLTSourcePartition:
			if p, err := strconv.ParseInt(v, 10, 32); err == nil {
				d.SourcePartition = int32(p)
			}
		case HeaderDLTSourceOffset:
			if o, err := strconv.ParseInt(v, 10, 64); err == nil {
				d.SourceOffset = o
			}
		case HeaderDLTReactor:
			d.Reactor = v
		case HeaderDLTFailedAt:
			d.FailedAt, _ = time.Parse(time.RFC3339Nano, v)
		case eventstore.HeaderEventType:
			d.EventType = v
		case eventstore.HeaderEventID:
			d.EventID = v
		}
	}
	d.Headers = withoutHeaders(rec.Headers, dltHeaders...)
	return d
}

// String identifies the dead letter: "<topic>/<partition>/<offset>".
func (d DeadLetter) String() string { return fmt.Sprintf("%s/%d/%d", d.Topic, d.Partition, d.Offset) }

// ListDeadLetters reads every record of a dead-letter topic, from the start to its end
// when the call begins, in partition then offset order. opts are added to the Kafka
// client's options. Dead-letter topics keep records forever (like every Shopflow topic):
// a redriven letter stays listed, and its redrive is recognised by the reactor's inbox if
// it was processed. Errors: Kafka errors, ctx's error.
func ListDeadLetters(ctx context.Context, brokers []string, topic string, opts ...kgo.Opt) ([]DeadLetter, error) {
	starts, ends, err := offsetsOf(ctx, brokers, topic, opts)
	if err != nil {
		return nil, err
	}
	from := map[int32]kgo.Offset{}
	for p, end := range ends {
		if end > starts[p] {
			from[p] = kgo.NewOffset().At(starts[p])
		}
	}
	if len(from) == 0 {
		return nil, nil
	}
	cl, err := kafka.NewClient(brokers, append([]kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from})}, opts...)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	pending := map[int32]int64{}
	for p := range from {
		pending[p] = ends[p]
	}
	return readUntil(ctx, cl, pending)
}

// offsetsOf returns the start and end offsets of every partition of topic.
func offsetsOf(ctx context.Context, brokers []string, topic string, opts []kgo.Opt) (starts, ends map[int32]int64, err error) {
	cl, err := kafka.NewClient(brokers, opts...)
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	so, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = so.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("sagas: start offsets of %s: %w", topic, err)
	}
	eo, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = eo.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("sagas: end offsets of %s: %w", topic, err)
	}
	starts, ends = map[int32]int64{}, map[int32]int64{}
	so.Each(func(o kadm.ListedOffset) { starts[o.Partition] = o.Offset })
	eo.Each(func(o kadm.ListedOffset) { ends[o.Partition] = o.Offset })
	return starts, ends, nil
}

// readUntil polls until every pending partition has delivered the records before its
// end offset. pending maps partition to end offset; it is emptied.
func readUntil(ctx context.Context, cl *kgo.Client, pending map[int32]int64) ([]DeadLetter, error) {
	var letters []DeadLetter
	for len(pending) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return letters, err
		}
		if err := fetchError(fetches); err != nil {
			return letters, fmt.Errorf("sagas: read dead letters: %w", err)
		}
		fetches.EachRecord(func(rec *kgo.Record) {
			end, ok := pending[rec.Partition]
			if !ok || rec.Offset >= end {
				return
			}
			letters = append(letters, parseDeadLetter(rec))
			if rec.Offset == end-1 {
				delete(pending, rec.Partition)
			}
		})
	}
	slices.SortFunc(letters, func(a, b DeadLetter) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
	})
	return letters, nil
}

// ErrNoSource is returned (wrapped) by Redrive for a dead letter without a source topic.
var ErrNoSource = errors.New("sagas: dead letter has no source topic")

// Redrive re-publishes dead letters to their source topics, with their original key,
// value and headers plus HeaderDLTRedrivenFrom, and waits for the acknowledgements. Every
// consumer of the source topic sees the message again: reactors that processed it
// already drop it (inbox, by event id), the one that dead-lettered it tries again. opts
// are added to the producer's options (eventstore.ProducerOpts). It returns the errors of
// the letters that could not be re-published (ErrNoSource, Kafka errors), joined.
func Redrive(ctx context.Context, brokers []string, letters []DeadLetter, opts ...kgo.Opt) error {
	if len(letters) == 0 {
		return nil
	}
	cl, err := kafka.NewClient(brokers, append(eventstore.ProducerOpts(), opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	var recs []*kgo.Record
	var errs []error
	for _, d := range letters {
		if strings.TrimSpace(d.SourceTopic) == "" {
			errs = append(errs, fmt.Errorf("redrive %s: %w", d, ErrNoSource))
			continue
		}
		h := withoutHeaders(d.Headers, HeaderDLTRedrivenFrom)
		h = append(h, kgo.RecordHeader{Key: HeaderDLTRedrivenFrom, Value: []byte(d.String())})
		recs = append(recs, &kgo.Record{Topic: d.SourceTopic, Key: d.Key, Value: d.Value, Headers: h})
	}
	for _, res := range cl.ProduceSync(ctx, recs...) {
		if res.Err != nil {
			errs = append(errs, fmt.Errorf("redrive to %s: %w", res.Record.Topic, res.Err))
		}
	}
	return errors.Join(errs...)
}
