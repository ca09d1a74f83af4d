package chaos

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/kafka"
)

// Options configure a run.
type Options struct {
	// Root is the repository root; StateDir the scratch stack's state directory;
	// SeedStateDir a stack whose jars are reused (see Stack).
	Root, StateDir, SeedStateDir string
	// Binary is the shopflow executable; empty: built from Root into StateDir/bin.
	Binary string
	// Faults run in order, each after Gap of steady load (and the load goes on for Gap
	// after the last).
	Faults []Fault
	Gap    time.Duration
	// Rate is commands per second; Products and Customers size the uniform load.
	Rate, Products, Customers int
	// Poison is how many undecodable records are produced to orders.events on purpose.
	Poison int
	// Deadline is the stack's settlement deadline (SHOPFLOW_SETTLEMENT_DEADLINE).
	Deadline time.Duration
	// FailoverHold is how long the failover fault leaves the killed instance down (default
	// 20 s).
	FailoverHold time.Duration
	// Freeze is how long the freeze fault keeps shopflow stopped (default 10 s).
	Freeze time.Duration
	// QuietTimeout bounds the wait for quiescence after the load.
	QuietTimeout time.Duration
	// Logf, if set, is told the run's progress.
	Logf func(format string, args ...any)
}

// Report is what a run found.
type Report struct {
	Options   Options
	Ports     Ports
	Start     time.Time
	LoadStart time.Time
	LoadEnd   time.Time
	End       time.Time
	Faults    []FaultRecord
	Liveness  []Liveness
	Results   []Result
	Sent      []*Sent
	// QuietAfter is how long quiescence took after the load; QuietErr why it never came.
	QuietAfter time.Duration
	QuietErr   error
	Confirmed  []time.Time // when each OrderConfirmed was recorded
	// Poison are the keys of the records poisoned on purpose.
	Poison map[string]bool
}

// OK reports whether every check passed and every fault was carried out.
func (r *Report) OK() bool {
	for _, res := range r.Results {
		if !res.OK() {
			return false
		}
	}
	for _, f := range r.Faults {
		if f.Err != nil {
			return false
		}
	}
	return r.QuietErr == nil && len(r.Results) > 0
}

// runner is one run's state.
type runner struct {
	o       Options
	stack   *Stack
	primary *Instance
	load    *Load
}

// Run starts a scratch stack, drives the load while it injects the faults, waits for
// quiescence and checks the stores. It returns the report and the stack, still running
// (Evidence and corruption tests read it): the caller stops it. An error means the run
// could not be carried out (the stack did not start); a broken invariant is in the report.
func Run(ctx context.Context, o Options) (*Report, *Stack, error) {
	o = o.withDefaults()
	rep := &Report{Options: o, Start: time.Now()}
	ports, err := FreePorts()
	if err != nil {
		return nil, nil, err
	}
	rep.Ports = ports
	st := &Stack{Root: o.Root, StateDir: o.StateDir, SeedStateDir: o.SeedStateDir, Ports: ports, Binary: o.Binary, Logf: o.Logf,
		Env: []string{"SHOPFLOW_SETTLEMENT_DEADLINE=" + o.Deadline.String()}}
	r := &runner{o: o, stack: st, load: &Load{Rate: o.Rate, Products: o.Products, Customers: o.Customers}}
	if err := r.start(ctx); err != nil {
		return nil, st, err
	}
	poison, err := r.poison(ctx)
	if err != nil {
		return nil, st, err
	}
	rep.Poison = poison
	r.drive(ctx, rep)
	stores, err := OpenStores(ctx, st)
	if err != nil {
		return nil, st, err
	}
	defer stores.Close()
	o.Logf("load done (%d commands); waiting for quiescence", len(rep.Sent))
	rep.QuietAfter, rep.QuietErr = stores.WaitQuiet(ctx, o.QuietTimeout)
	ev, err := Gather(ctx, stores, rep.Sent, poison)
	if err != nil {
		return nil, st, err
	}
	rep.Results = Check(ev)
	rep.analyse(ev)
	rep.End = time.Now()
	return rep, st, nil
}

func (o Options) withDefaults() Options {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	o.StateDir, _ = filepath.Abs(o.StateDir)
	if o.Rate == 0 {
		o.Rate = 20
	}
	if o.Products == 0 {
		o.Products = 40
	}
	if o.Customers == 0 {
		o.Customers = 100
	}
	if o.Gap == 0 {
		o.Gap = 15 * time.Second
	}
	if o.Deadline == 0 {
		o.Deadline = 30 * time.Second
	}
	if o.QuietTimeout == 0 {
		o.QuietTimeout = o.Deadline + 90*time.Second
	}
	if o.FailoverHold == 0 {
		o.FailoverHold = 20 * time.Second
	}
	if o.Freeze == 0 {
		o.Freeze = 10 * time.Second
	}
	if o.Poison == 0 {
		o.Poison = 3
	}
	return o
}

// start prepares and starts the stack and the first shopflow instance.
func (r *runner) start(ctx context.Context) error {
	o, st := r.o, r.stack
	if st.Binary == "" {
		st.Binary = filepath.Join(o.StateDir, "bin", "shopflow")
		o.Logf("building %s", st.Binary)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", st.Binary, "./cmd/shopflow")
		cmd.Dir = o.Root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("chaos: build shopflow: %w: %s", err, out)
		}
	}
	o.Logf("preparing the scratch stack in %s (ports %+v)", o.StateDir, st.Ports)
	if err := st.Prepare(ctx); err != nil {
		return err
	}
	t0 := time.Now()
	if err := st.StartInfra(ctx); err != nil {
		return err
	}
	o.Logf("servers up in %v; starting shopflow", time.Since(t0).Round(time.Millisecond))
	in, err := st.StartInstance(ctx, "a")
	if err != nil {
		return err
	}
	r.primary = in
	r.load.Token = st.Token
	r.load.SetTargets(in.URL)
	return r.load.Seed(ctx)
}

// poison produces undecodable records to orders.events: every consumer of the topic must
// dead-letter them and go on. It returns their keys.
func (r *runner) poison(ctx context.Context) (map[string]bool, error) {
	cl, err := kafka.NewClient([]string{r.stack.KafkaBroker()})
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	keys := map[string]bool{}
	var recs []*kgo.Record
	for i := range r.o.Poison {
		k := "chaos-poison-" + strconv.Itoa(i)
		keys[k] = true
		recs = append(recs, &kgo.Record{Topic: kafka.EventsTopic("orders"), Key: []byte(k), Value: []byte(`{"stream_id": "` + k + `", oops`),
			Headers: []kgo.RecordHeader{{Key: eventstore.HeaderEnvelopeVersion, Value: []byte(strconv.Itoa(eventstore.EnvelopeVersion))},
				{Key: eventstore.HeaderStreamType, Value: []byte("order")}, {Key: eventstore.HeaderEventType, Value: []byte("OrderPlaced")}}})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return nil, fmt.Errorf("chaos: poison: %w", err)
	}
	return keys, nil
}

// drive runs the load while the faults are injected one after another.
func (r *runner) drive(ctx context.Context, rep *Report) {
	loadCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	rep.LoadStart = time.Now()
	go func() { r.load.Run(loadCtx); close(done) }()
	for _, f := range r.o.Faults {
		sleep(ctx, r.o.Gap)
		rec := FaultRecord{Name: f.Name, What: f.What}
		r.o.Logf("fault %s: %s", f.Name, f.What)
		rec.Err = f.inject(ctx, r, &rec)
		if rec.Err == nil {
			rec.Err = r.primary.WaitReady(ctx, 2*time.Minute)
		}
		rec.Ready = time.Now()
		if rec.Err != nil {
			r.o.Logf("fault %s: %v", f.Name, rec.Err)
		}
		rep.Faults = append(rep.Faults, rec)
	}
	sleep(ctx, r.o.Gap)
	stop()
	<-done
	rep.LoadEnd = time.Now()
	rep.Sent = r.load.Sent()
}

// DefaultStateDir is where make chaos keeps its scratch stack: .shopflow-chaos/<name> in
// the repository.
func DefaultStateDir(root, name string) string { return filepath.Join(root, ".shopflow-chaos", name) }

// SeedDir returns the state directory of the stack whose jars a scratch stack reuses: the
// caller's SHOPFLOW_STATE_DIR, else the repository's .shopflow.
func SeedDir(root string) string {
	if d := os.Getenv("SHOPFLOW_STATE_DIR"); d != "" {
		return d
	}
	return filepath.Join(root, ".shopflow")
}
