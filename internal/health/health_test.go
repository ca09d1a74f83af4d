package health

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestRunReportsEachCheck(t *testing.T) {
	c := NewChecker(50 * time.Millisecond)
	c.Add("ok", func(context.Context) error { return nil })
	c.Add("broken", func(context.Context) error { return errors.New("refused") })
	c.Add("slow", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })

	rep := c.Run(context.Background())

	if rep.Ready {
		t.Error("Ready = true with failing checks")
	}
	want := map[string]string{"ok": "up", "broken": "down", "slow": "down"}
	for name, status := range want {
		if got := rep.Checks[name].Status; got != status {
			t.Errorf("%s: status %q, want %q", name, got, status)
		}
	}
	if rep.Checks["broken"].Error != "refused" {
		t.Errorf("broken: error %q", rep.Checks["broken"].Error)
	}
}

func TestRunAllUpIsReady(t *testing.T) {
	c := NewChecker(0)
	c.Add("a", func(context.Context) error { return nil })
	if rep := c.Run(context.Background()); !rep.Ready {
		t.Errorf("Ready = false: %+v", rep)
	}
}

func TestExcludedChecksRunButDoNotCountTowardsReady(t *testing.T) {
	c := NewChecker(time.Second)
	c.Add("postgres_orders", func(context.Context) error { return nil })
	c.Add("elasticsearch", func(context.Context) error { return errors.New("connection refused") })
	c.Add("projection_orders", func(context.Context) error { return errors.New("retrying a bulk") })
	c.Add("projection_products", func(context.Context) error { return nil })

	if rep := c.Run(context.Background()); rep.Ready {
		t.Error("Ready with Elasticsearch down and nothing excluded")
	}
	if rep := c.Run(context.Background(), "elasticsearch"); rep.Ready {
		t.Error("Ready with a projection worker down and only elasticsearch excluded")
	}
	rep := c.Run(context.Background(), "elasticsearch", "projection_*")
	if !rep.Ready {
		t.Errorf("not Ready with every failing check excluded: %+v", rep)
	}
	for name, want := range map[string]Result{
		"postgres_orders":     {Status: "up"},
		"elasticsearch":       {Status: "down", Error: "connection refused", Excluded: true},
		"projection_orders":   {Status: "down", Error: "retrying a bulk", Excluded: true},
		"projection_products": {Status: "up", Excluded: true},
	} {
		got := rep.Checks[name]
		got.LatencyMS = 0
		if got != want {
			t.Errorf("%s = %+v, want %+v", name, got, want)
		}
	}
	if rep.UnmatchedExclude != nil {
		t.Errorf("UnmatchedExclude = %q, want none", rep.UnmatchedExclude)
	}
	// a pattern that names no check excludes nothing and is reported
	rep = c.Run(context.Background(), "elastic", "elasticsearch", "project*x", "")
	if rep.Ready || !slices.Equal(rep.UnmatchedExclude, []string{"elastic", "project*x", ""}) {
		t.Errorf("Ready %v, UnmatchedExclude %q; want not ready and the three patterns that name no check", rep.Ready, rep.UnmatchedExclude)
	}
}
