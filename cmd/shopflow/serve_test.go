package main

import (
	"log/slog"
	"testing"

	"github.com/shopflow/shopflow/internal/config"
)

// The projection workers are static group members like the reactors: without the instance
// id, a restarted process was not ready for 45 s (the dead members' session timeout).
func TestProjectionWorkersAreStaticMembers(t *testing.T) {
	cfg := config.Config{Contexts: []string{"orders"}, ReadModels: true, KafkaBrokers: []string{"127.0.0.1:9092"}}
	pcfg, err := projectionConfig(cfg, nil, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if pcfg.InstanceID == "" || pcfg.InstanceID != cfg.GroupInstanceID() {
		t.Fatalf("projections InstanceID = %q, want %q", pcfg.InstanceID, cfg.GroupInstanceID())
	}
}
