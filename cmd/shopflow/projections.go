package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/shopflow/shopflow/internal/config"
	"github.com/shopflow/shopflow/internal/elastic"
	"github.com/shopflow/shopflow/internal/pii"
	"github.com/shopflow/shopflow/internal/postgres"
	"github.com/shopflow/shopflow/projections"
)

const projectionsUsage = `usage:
  shopflow projections rebuild <orders|products|customers|all>   rebuild into a new index, then swap the alias
  shopflow projections status                                      index version, lag and state of each projection`

// projectionsCmd runs the read-model tools.
func projectionsCmd(ctx context.Context, cfg config.Config, log *slog.Logger, args []string) error {
	es, err := elastic.NewClient(cfg.ElasticsearchURLs, cfg.Elasticsearch.Security())
	if err != nil {
		return err
	}
	pcfg, err := projectionConfig(cfg, nil, log)
	if err != nil {
		return err
	}
	if len(args) > 0 && args[0] == "rebuild" { // a rebuild opens personal data as the workers do
		pool, err := postgres.Open(ctx, cfg.DatabaseURL("payments"))
		if err != nil {
			return fmt.Errorf("payments database (customer keys): %w", err)
		}
		defer pool.Close()
		pcfg.Keys = pii.NewStore(pool)
	}
	switch {
	case len(args) == 2 && args[0] == "rebuild":
		return projections.RunRebuildCLI(ctx, es, pcfg, args[1], os.Stdout)
	case len(args) == 1 && args[0] == "status":
		return projections.RunStatusCLI(ctx, es, pcfg, os.Stdout)
	}
	return errors.New(projectionsUsage)
}
