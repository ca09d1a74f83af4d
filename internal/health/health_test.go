package health

import (
	"context"
	"errors"
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
