package console

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/projections"
)

// Rebuild is the progress of a read-model rebuild started from the console.
type Rebuild struct {
	Projection string    `json:"projection"`
	StartedAt  time.Time `json:"started_at"`
	// Phase is projections.PhaseReplay, PhaseCatchUp, PhaseFinish or PhaseDone; "failed"
	// with Error when the rebuild stopped.
	Phase    string  `json:"phase"`
	Index    string  `json:"index,omitempty"`
	OldIndex string  `json:"old_index,omitempty"`
	Done     int64   `json:"done"`
	Total    int64   `json:"total"`
	Percent  float64 `json:"percent"`
	Records  int64   `json:"records"`
	Applied  int64   `json:"events_applied"`
	Error    string  `json:"error,omitempty"`
	// FinishedAt is set once it succeeded or failed.
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// PhaseFailed is the Phase of a rebuild that stopped with an error.
const PhaseFailed = "failed"

// running reports whether the rebuild has not finished.
func (r *Rebuild) running() bool { return r.FinishedAt == nil }

// ErrRebuildRunning is returned (wrapped, as a *domain.RuleError of code
// "rebuild_running") when a rebuild of the read model is already running.
var ErrRebuildRunning = errors.New("a rebuild of this read model is running")

// StartRebuild starts rebuilding a read model in the background (projections.Rebuild: a new
// index from the start of the topics while the live one serves, then an alias swap) and
// returns its progress. One rebuild per read model runs at a time; ctx bounds nothing but
// the start: the rebuild runs until done or until the Service's Run ends.
func (s *Service) StartRebuild(name string) (Rebuild, error) {
	if s.cfg.ES == nil || !slices.Contains(projections.Names(), name) {
		return Rebuild{}, notFound("no read model %q (read models: %v)", name, projections.Names())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.rebuilds[name]; ok && r.running() {
		return *r, &domain.RuleError{Code: "rebuild_running", Message: ErrRebuildRunning.Error() + " since " + r.StartedAt.Format(time.RFC3339)}
	}
	r := &Rebuild{Projection: name, StartedAt: time.Now().UTC(), Phase: projections.PhaseReplay}
	s.rebuilds[name] = r
	s.rebuildWG.Add(1)
	go func() {
		defer s.rebuildWG.Done()
		s.runRebuild(r)
	}()
	return *r, nil
}

// runRebuild runs a rebuild and records its progress and outcome.
func (s *Service) runRebuild(r *Rebuild) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.mu.Lock()
	s.cancels = append(s.cancels, cancel)
	s.mu.Unlock()
	res, err := projections.Rebuild(ctx, s.cfg.ES, s.cfg.Projections, r.Projection, func(p projections.Progress) {
		s.mu.Lock()
		defer s.mu.Unlock()
		r.Phase, r.Index = p.Phase, p.Index
		if p.Phase != projections.PhaseDone { // done reports no counts: keep the last phase's
			r.Done, r.Total, r.Percent = p.Done, p.Total, percent(p.Done, p.Total)
		}
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UTC()
	r.FinishedAt = &now
	r.OldIndex, r.Records, r.Applied = res.OldIndex, res.Records, res.Applied
	if res.NewIndex != "" {
		r.Index = res.NewIndex
	}
	if err != nil {
		r.Phase, r.Error = PhaseFailed, err.Error()
		s.cfg.Log.Error("rebuild failed", "projection", r.Projection, "err", err)
		return
	}
	r.Phase, r.Percent = projections.PhaseDone, 100
	s.cfg.Log.Info("rebuild done", "projection", r.Projection, "index", r.Index, "records", r.Records)
}

func percent(done, total int64) float64 {
	if total <= 0 {
		return 100
	}
	return float64(int64(1000*float64(done)/float64(total))) / 10
}

// Rebuilds returns the rebuild of each read model started by this process, latest first
// per read model, by name.
func (s *Service) Rebuilds() map[string]Rebuild {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Rebuild, len(s.rebuilds))
	for name, r := range s.rebuilds {
		out[name] = *r
	}
	return out
}

// RebuildOf returns the latest rebuild of a read model started by this process.
func (s *Service) RebuildOf(name string) (Rebuild, error) {
	r, ok := s.Rebuilds()[name]
	if !ok {
		return r, notFound("no rebuild of %q was started by this process", name)
	}
	return r, nil
}

// stopRebuilds cancels the running rebuilds (Run's end) and waits for them: a rebuild
// cancelled before its swap deletes its new index; after it, it finishes first.
func (s *Service) stopRebuilds() {
	s.mu.Lock()
	for _, c := range s.cancels {
		c()
	}
	s.cancels = nil
	s.mu.Unlock()
	s.rebuildWG.Wait()
}
