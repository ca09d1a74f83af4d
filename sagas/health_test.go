package sagas_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/shopflow/shopflow/internal/kafka"
	"github.com/shopflow/shopflow/internal/testenv"
	"github.com/shopflow/shopflow/sagas"
)

// A reactor whose group session fails (here: heartbeats refused, as when the coordinator
// moves or Kafka restarts) is unhealthy, and healthy again once it has its partitions
// back, even when no record arrives afterwards. Before, the failed poll's error stayed
// until a poll returned records, so an idle reactor stayed unready for good. kfake
// refuses heartbeats on cue, which a real broker cannot be made to do.
func TestReactorHealthRecoversAfterAGroupErrorWithoutTraffic(t *testing.T) {
	var refuse atomic.Bool
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.SeedTopics(1, kafka.EventsTopic(sagas.Orders), kafka.EventsTopic(sagas.Payments), kafka.DeadLetterTopic(sagas.Inventory)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	cluster.ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		if !refuse.Load() {
			return nil, nil, false
		}
		resp := req.(*kmsg.HeartbeatRequest).ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.UnknownServerError.Code
		return resp, nil, true
	})
	es := testenv.NewEventStore(t)
	r, err := sagas.NewInventoryReactor(sagas.Config{Brokers: cluster.ListenAddrs(), Log: logger,
		ClientOpts: []kgo.Opt{kgo.HeartbeatInterval(100 * time.Millisecond)}}, es.Store)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	eventually(t, 10*time.Second, "healthy at start", func() bool { return r.Health() == nil })
	refuse.Store(true)
	eventually(t, 10*time.Second, "unhealthy while the group session fails", func() bool { return r.Health() != nil })
	t.Logf("while failing: %v", r.Health())
	refuse.Store(false)
	eventually(t, 15*time.Second, "healthy again without traffic", func() bool { return r.Health() == nil })
}
