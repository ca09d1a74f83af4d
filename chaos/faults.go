package chaos

import (
	"context"
	"fmt"
	"syscall"
	"time"
)

// Fault is one fault the suite injects, with its recovery.
type Fault struct {
	// Name is stable, for flags and the report.
	Name string
	// What says in words what is done.
	What string
	// inject does it to the run, filling in the record's times.
	inject func(ctx context.Context, r *runner, rec *FaultRecord) error
}

// FaultRecord is what happened when a fault was injected.
type FaultRecord struct {
	Name, What string
	// Injected is when the fault began; Recovered when what it took away was back (the
	// process restarted, the server's script saw it ready; for a failover, the kill itself:
	// nothing comes back, the survivor must take over); Ready when every running shopflow
	// instance answered /readyz 200 again.
	Injected, Recovered, Ready time.Time
	// Err is set when the fault or its recovery could not be carried out.
	Err error
	// Note adds what the fault's figures mean.
	Note string
}

// Faults are the faults of the full suite, in the order they run.
var Faults = []Fault{
	{"kill_shopflow", "kill -9 of shopflow serve, restarted at once", killShopflow},
	{"freeze_shopflow", "SIGSTOP of shopflow serve, then SIGCONT", freezeShopflow},
	{"kill_kafka", "kill -9 of the Kafka broker, restarted after 3 s", killServer("kafka")},
	{"kill_elasticsearch", "kill -9 of Elasticsearch, restarted after 3 s", killServer("elasticsearch")},
	{"stop_postgres", "immediate stop of Postgres (pg_ctl -m immediate), restarted after 3 s", stopPostgres},
	{"failover", "a second shopflow instance joins; the first (holding the relays) is killed -9 and stays down", failover},
}

// ShortFaults are the names of the faults of the short run (make test).
var ShortFaults = []string{"kill_shopflow", "freeze_shopflow", "stop_postgres", "kill_kafka"}

// FaultNamed returns the fault of that name.
func FaultNamed(name string) (Fault, error) {
	for _, f := range Faults {
		if f.Name == name {
			return f, nil
		}
	}
	return Fault{}, fmt.Errorf("chaos: unknown fault %q", name)
}

func killShopflow(ctx context.Context, r *runner, rec *FaultRecord) error {
	rec.Injected = time.Now()
	if err := r.primary.Kill(); err != nil {
		return err
	}
	err := r.primary.Start(ctx)
	rec.Recovered = time.Now()
	return err
}

// freezeShopflow stops shopflow serve with SIGSTOP for Options.Freeze, then SIGCONT.
func freezeShopflow(ctx context.Context, r *runner, rec *FaultRecord) error {
	rec.Injected = time.Now()
	if err := r.primary.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	sleep(ctx, r.o.Freeze)
	rec.Recovered = time.Now()
	rec.Note = fmt.Sprintf("frozen %v", r.o.Freeze)
	return r.primary.Signal(syscall.SIGCONT)
}

func killServer(name string) func(context.Context, *runner, *FaultRecord) error {
	return func(ctx context.Context, r *runner, rec *FaultRecord) error {
		rec.Injected = time.Now()
		if err := r.stack.KillServer(name); err != nil {
			return err
		}
		sleep(ctx, 3*time.Second)
		err := r.stack.StartServer(ctx, name)
		rec.Recovered = time.Now()
		return err
	}
}

func stopPostgres(ctx context.Context, r *runner, rec *FaultRecord) error {
	rec.Injected = time.Now()
	if err := r.stack.CrashPostgres(ctx); err != nil {
		return err
	}
	sleep(ctx, 3*time.Second)
	err := r.stack.StartServer(ctx, "postgres")
	rec.Recovered = time.Now()
	return err
}

// failover runs a second instance, spreads the load over both, kills the first with -9
// (the older one: it holds the relays' advisory locks), leaves it down for
// Options.FailoverHold while the
// second serves alone, then starts the first again (same instance id) and stops the
// second gracefully, so that the next fault finds one instance again.
func failover(ctx context.Context, r *runner, rec *FaultRecord) error {
	second, err := r.stack.StartInstance(ctx, "b")
	if err != nil {
		return err
	}
	defer second.Stop(30 * time.Second)
	r.load.SetTargets(r.primary.URL, second.URL)
	sleep(ctx, 10*time.Second) // both serve; the groups have rebalanced
	r.load.SetTargets(second.URL)
	rec.Injected = time.Now()
	if err := r.primary.Kill(); err != nil {
		return err
	}
	rec.Recovered = rec.Injected
	ready, polls := 0, 0
	for end := time.Now().Add(r.o.FailoverHold); time.Now().Before(end) && ctx.Err() == nil; polls++ {
		if second.Ready() {
			ready++
		}
		sleep(ctx, 500*time.Millisecond)
	}
	rec.Note = fmt.Sprintf("stayed down %v, then restarted, ready+ includes that; the survivor answered /readyz 200 in %d of %d polls meanwhile",
		r.o.FailoverHold, ready, polls)
	if err := r.primary.Start(ctx); err != nil {
		return err
	}
	r.load.SetTargets(r.primary.URL)
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
