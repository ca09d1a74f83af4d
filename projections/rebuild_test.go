package projections_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/projections"
	"github.com/shopflow/shopflow/projections/projectionstest"
)

// rebuild runs Rebuild and returns its result and the phases it reported, in order.
func rebuild(t testing.TB, env *projectionstest.Env, name string) (projections.RebuildResult, []projections.Progress) {
	t.Helper()
	var mu sync.Mutex
	var phases []projections.Progress
	res, err := projections.Rebuild(context.Background(), env.ES, env.Config, name, func(p projections.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if len(phases) == 0 || phases[len(phases)-1].Phase != p.Phase {
			phases = append(phases, p)
		} else {
			phases[len(phases)-1] = p
		}
	})
	if err != nil {
		t.Fatalf("rebuild %s: %v", name, err)
	}
	return res, phases
}

func TestRebuildEqualsTheLiveIndex(t *testing.T) {
	shop := projectionstest.NewShop(4)
	shop.Random(12, 6, 30)
	env := projectionstest.New(t, 3)
	env.Produce(t, shop.Events...)
	env.StartWorkers(t)
	env.WaitCaughtUp(t)
	live := snapshots(t, env)

	for _, name := range projections.Names() {
		old := env.Index(t, name)
		res, phases := rebuild(t, env, name)
		if res.OldIndex != old || res.NewIndex != env.Config.Alias(name)+"_v2" || env.Index(t, name) != res.NewIndex {
			t.Errorf("%s: rebuild %+v; alias on %s, was on %s", name, res, env.Index(t, name), old)
		}
		if phases[0].Phase != projections.PhaseReplay || phases[0].Done != phases[0].Total || phases[0].Total != res.Records {
			t.Errorf("%s: first phase %+v, want the replay of all %d records", name, phases[0], res.Records)
		}
		if last := phases[len(phases)-1]; last.Phase != projections.PhaseDone {
			t.Errorf("%s: last phase %+v, want done", name, last)
		}
		if res, err := env.ES.Indices.Exists([]string{old}); err != nil || res.StatusCode != 404 {
			t.Errorf("%s: old index %s not deleted: %v %v", name, old, err, res)
		}
	}
	requireSame(t, live, snapshots(t, env))

	statuses, err := projections.Status(context.Background(), env.ES, env.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range statuses {
		if s.Generation != 2 || s.State != "live" || s.LagRecords != 0 || len(s.Other) != 0 || s.StaleMapping {
			t.Errorf("status after rebuild: %+v", s)
		}
	}
}

func TestRebuildWhileEventsKeepComing(t *testing.T) {
	shop := projectionstest.NewShop(5)
	shop.Random(10, 5, 20)
	env := projectionstest.New(t, 3)
	env.Produce(t, shop.Events...)
	env.StartWorkers(t)
	env.WaitCaughtUp(t)

	ctx, stop := context.WithCancel(context.Background())
	produced := make(chan error)
	go func() { produced <- keepTrading(ctx, env, shop) }()
	rebuild(t, env, projections.Orders)
	stop()
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	env.WaitCaughtUp(t)
	during := snapshots(t, env)
	checkShop(t, shop, during)

	// A rebuild with nothing happening meanwhile must find the same documents.
	rebuild(t, env, projections.Orders)
	requireSame(t, during, snapshots(t, env))
}

func TestRebuildRefusesWhileAnotherGenerationIsPending(t *testing.T) {
	env := projectionstest.New(t, 1)
	env.StartWorker(t, projections.Products)
	projectionstest.Eventually(t, "alias created", func() (bool, error) { return env.Index(t, projections.Products) != "", nil })
	res, err := env.ES.Indices.Create(env.Config.Alias(projections.Products) + "_v7")
	if err != nil || res.IsError() {
		t.Fatalf("create a stray generation: %v %v", err, res)
	}
	res.Body.Close()
	_, err = projections.Rebuild(context.Background(), env.ES, env.Config, projections.Products, nil)
	if err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("rebuild with a pending generation: err = %v, want a refusal", err)
	}
	t.Log(err)
}

// keepTrading records and publishes a few orders every 20 ms until ctx ends.
func keepTrading(ctx context.Context, env *projectionstest.Env, shop *projectionstest.Shop) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for ; ctx.Err() == nil; <-tick.C {
		from := len(shop.Events)
		shop.Random(0, 0, 3)
		recs := make([]*kgo.Record, 0, len(shop.Events)-from)
		for _, e := range shop.Events[from:] {
			r, err := e.Record(env.Topic(e.StreamType))
			if err != nil {
				return err
			}
			recs = append(recs, r)
		}
		if err := env.Producer.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			return err
		}
	}
	return nil
}

func TestCommandLineEntryPoints(t *testing.T) {
	shop := projectionstest.NewShop(10)
	shop.Random(3, 2, 5)
	env := projectionstest.New(t, 1)
	env.Produce(t, shop.Events...)
	env.StartWorkers(t)
	env.WaitCaughtUp(t)

	var out strings.Builder
	if err := projections.RunRebuildCLI(context.Background(), env.ES, env.Config, "all", &out); err != nil {
		t.Fatalf("rebuild all: %v\n%s", err, out.String())
	}
	t.Logf("rebuild output:\n%s", out.String())
	for _, name := range projections.Names() {
		if !strings.Contains(out.String(), name+": rebuilt "+env.Config.Alias(name)+"_v1 → "+env.Config.Alias(name)+"_v2") {
			t.Errorf("rebuild output lacks %s:\n%s", name, out.String())
		}
	}
	out.Reset()
	if err := projections.RunStatusCLI(context.Background(), env.ES, env.Config, &out); err != nil {
		t.Fatal(err)
	}
	if n := len(regexp.MustCompile(`_v2 +live `).FindAllString(out.String(), -1)); n != 3 {
		t.Errorf("status shows %d live generation-2 indices:\n%s", n, out.String())
	}
	if err := projections.RunRebuildCLI(context.Background(), env.ES, env.Config, "nope", &out); err == nil {
		t.Error("rebuild of an unknown read model succeeded")
	}
}
