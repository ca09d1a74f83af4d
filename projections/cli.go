package projections

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/schollz/progressbar/v3"
)

// RunRebuildCLI rebuilds the read model name ("all": every one, in Names order) for
// `shopflow projections rebuild <name>`, drawing a progress bar per phase on out and a
// summary line per read model.
func RunRebuildCLI(ctx context.Context, es *elasticsearch.Client, cfg Config, name string, out io.Writer) error {
	names := []string{name}
	if name == "all" {
		names = Names()
	}
	for _, n := range names {
		if _, err := lookup(n); err != nil {
			return err
		}
	}
	for _, n := range names {
		bars := &phaseBars{out: out}
		res, err := Rebuild(ctx, es, cfg, n, bars.update)
		bars.close()
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: rebuilt %s → %s: %d records, %d events applied in %s\n", n, orNone(res.OldIndex),
			res.NewIndex, res.Records, res.Applied, res.Duration.Round(time.Millisecond))
	}
	return nil
}

// phaseBars draws one progress bar per rebuild phase that has records to read.
type phaseBars struct {
	out   io.Writer
	phase string
	bar   *progressbar.ProgressBar
}

func (p *phaseBars) update(pr Progress) {
	if pr.Phase != p.phase {
		p.close()
		p.phase = pr.Phase
		if pr.Phase == PhaseDone || pr.Total == 0 {
			return // nothing to show
		}
		p.bar = progressbar.NewOptions64(pr.Total, progressbar.OptionSetWriter(p.out),
			progressbar.OptionSetDescription(fmt.Sprintf("%s %-8s %s", pr.Projection, pr.Phase, pr.Index)),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("records"),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionSetWidth(30),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(p.out) }))
	}
	if p.bar != nil {
		_ = p.bar.Set64(min(pr.Done, pr.Total))
	}
}

func (p *phaseBars) close() {
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}

// RunStatusCLI prints Status as a table for `shopflow projections status`.
func RunStatusCLI(ctx context.Context, es *elasticsearch.Client, cfg Config, out io.Writer) error {
	statuses, err := Status(ctx, es, cfg)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROJECTION\tALIAS\tINDEX\tSTATE\tMAPPING\tDOCS\tLAG RECORDS\tLAG SECONDS\tOTHER INDICES")
	for _, s := range statuses {
		mapping := fmt.Sprintf("v%d", s.MappingVersion)
		if s.StaleMapping {
			mapping += " (stale: rebuild)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%.1f\t%v\n", s.Projection, s.Alias, orNone(s.Index), s.State,
			mapping, s.Documents, s.LagRecords, s.LagSeconds, s.Other)
	}
	return tw.Flush()
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
