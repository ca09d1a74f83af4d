package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Static membership.
//
// A group member with an instance id (KIP-345) that restarts under the same id gets its
// partitions back at once, with no rebalance: the coordinator hands the new member the old
// one's assignment. Without one, a member killed with -9 keeps its partitions until its
// session times out (45 s by default), and the whole group waits meanwhile: that was the
// 45 s of no confirmed orders after a restart. The id must be unique per process within a
// group and stable across its restarts (a StatefulSet pod name, a host name): two live
// processes with one id fence each other. A static member does not leave its group on
// Close, so that a restart finds its partitions kept; a process that stops for good (a
// graceful shutdown, a scale-down) leaves explicitly with Leave, so its partitions move to
// the others at once instead of after the session timeout.

// StaticMember returns the options that make a group consumer a static member with the
// given instance id; none when id is empty (dynamic membership).
func StaticMember(id string) []kgo.Opt {
	if id == "" {
		return nil
	}
	return []kgo.Opt{kgo.InstanceID(id)}
}

// SessionTimeout returns the option that sets how long a group waits for a member that
// stopped heartbeating (a process killed for good, a partitioned host) before it hands the
// member's partitions to the others; none when d is 0 (franz-go's default, 45 s). It
// matters most to a static member, which does not leave on Close: until then the
// partitions of a crashed process are consumed by nobody. The brokers bound it
// (group.min.session.timeout.ms, 6 s by default). With the consumer protocol (KIP-848) the
// brokers' group.consumer.session.timeout.ms applies instead.
func SessionTimeout(d time.Duration) []kgo.Opt {
	if d <= 0 {
		return nil
	}
	return []kgo.Opt{kgo.SessionTimeout(d)}
}

// Leave makes the static member id, whose member id was memberID (read with
// kgo.Client.GroupMetadata before closing it), leave group (classic protocol), so that its
// partitions are reassigned now. Call it after closing the member's client, when the
// process stops for good. Naming the member id too means that a newer process that joined
// under the same instance id meanwhile is not removed: the coordinator answers
// FENCED_INSTANCE_ID instead. An empty id (a dynamic member, which left on Close) does
// nothing.
func Leave(ctx context.Context, cl *kgo.Client, group, id, memberID string) error {
	if id == "" {
		return nil
	}
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group = group
	m := kmsg.NewLeaveGroupRequestMember()
	m.MemberID, m.InstanceID = memberID, &id
	reason := "shutdown"
	m.Reason = &reason
	req.Members = append(req.Members, m)
	resp, err := req.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err == nil && len(resp.Members) > 0 {
		err = kerr.ErrorForCode(resp.Members[0].ErrorCode)
	}
	if err != nil {
		return fmt.Errorf("kafka: leave group %s as %s: %w", group, id, err)
	}
	return nil
}

// ErrNotJoined is GroupStatus.Health's answer until the member has its assignment.
var ErrNotJoined = errors.New("has not joined its consumer group yet")

// GroupStatus is what a readiness probe needs of a group consumer: whether it holds its
// assignment (possibly empty: more members than partitions) and the failure it keeps
// retrying, if any. Wire Assigned and Lost as the client's OnPartitionsAssigned and
// OnPartitionsLost callbacks. Safe for concurrent use.
type GroupStatus struct {
	joined  atomic.Bool
	failure atomic.Pointer[error]
}

// Assigned records that the member joined its group and holds its assignment.
func (s *GroupStatus) Assigned(context.Context, *kgo.Client, map[string][]int32) {
	s.joined.Store(true)
}

// Lost records that the member lost its session, and its partitions with it.
func (s *GroupStatus) Lost(context.Context, *kgo.Client, map[string][]int32) {
	s.joined.Store(false)
}

// Reset forgets everything: a new member (client) starts out of its group.
func (s *GroupStatus) Reset() {
	s.joined.Store(false)
	s.failure.Store(nil)
}

// Failing records the failure the member is retrying; Failing(nil) clears it.
func (s *GroupStatus) Failing(err error) {
	if err == nil {
		if s.failure.Load() != nil {
			s.failure.Store(nil)
		}
		return
	}
	s.failure.Store(&err)
}

// Health reports nil while the member holds its assignment and is not failing.
func (s *GroupStatus) Health() error {
	if !s.joined.Load() {
		return ErrNotJoined
	}
	if p := s.failure.Load(); p != nil {
		return *p
	}
	return nil
}
