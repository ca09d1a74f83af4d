package projections

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Headers a dead-lettered record carries in addition to the original record's key, value
// and headers; the names are those of the sagas' dead letters, with dlt-consumer for the
// projection that gave up.
const (
	HeaderDLTError           = "dlt-error"
	HeaderDLTSourceTopic     = "dlt-source-topic"
	HeaderDLTSourcePartition = "dlt-source-partition"
	HeaderDLTSourceOffset    = "dlt-source-offset"
	HeaderDLTConsumer        = "dlt-consumer" // projection name, and the index for a rebuild
	HeaderDLTFailedAt        = "dlt-failed-at"
)

// deadLetterer produces dead letters with a client and counts them.
type deadLetterer struct {
	cl       *kgo.Client
	topic    string
	consumer string
	count    func(int)
}

// send produces the dead letters and waits for the broker's acknowledgements. An error
// leaves the batch uncommitted: it will be retried, at the price of duplicate dead letters.
func (d deadLetterer) send(ctx context.Context, dead []deadLetter) error {
	if len(dead) == 0 {
		return nil
	}
	recs := make([]*kgo.Record, len(dead))
	for i, dl := range dead {
		recs[i] = d.record(dl)
	}
	if err := d.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("projections: produce to dead-letter topic %s: %w", d.topic, err)
	}
	d.count(len(dead))
	return nil
}

// maxErrorHeader bounds the error text kept in a dead letter.
const maxErrorHeader = 4096

// record copies the source record (key, value, headers) with the error and its origin. A
// record dead-lettered again (after a redrive) gets fresh dlt-* headers, not a second set.
func (d deadLetterer) record(dl deadLetter) *kgo.Record {
	src := dl.rec
	msg := dl.err.Error()
	if len(msg) > maxErrorHeader {
		msg = msg[:maxErrorHeader]
	}
	var headers []kgo.RecordHeader
	for _, h := range src.Headers {
		if !strings.HasPrefix(h.Key, "dlt-") {
			headers = append(headers, h)
		}
	}
	headers = append(headers,
		kgo.RecordHeader{Key: HeaderDLTError, Value: []byte(msg)},
		kgo.RecordHeader{Key: HeaderDLTSourceTopic, Value: []byte(src.Topic)},
		kgo.RecordHeader{Key: HeaderDLTSourcePartition, Value: []byte(strconv.Itoa(int(src.Partition)))},
		kgo.RecordHeader{Key: HeaderDLTSourceOffset, Value: []byte(strconv.FormatInt(src.Offset, 10))},
		kgo.RecordHeader{Key: HeaderDLTConsumer, Value: []byte(d.consumer)},
		kgo.RecordHeader{Key: HeaderDLTFailedAt, Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
	)
	return &kgo.Record{Topic: d.topic, Key: src.Key, Value: src.Value, Headers: headers}
}
