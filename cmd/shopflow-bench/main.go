// Command shopflow-bench measures Shopflow against a raw baseline of the same work, run in
// the same process on the same servers, and prints one line per figure:
//
//	BENCH <name> <value> <unit> baseline=<value> ratio=<value/baseline>
//
// Ratios survive a noisy machine where absolute figures do not. Throughput ratios above 1 and
// latency ratios below 1 favour Shopflow. Servers come from the usual SHOPFLOW_* variables.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/shopflow/shopflow/internal/config"
)

type options struct {
	cfg         config.Config
	duration    time.Duration
	backlog     int
	rate        int
	batch       int
	concurrency []int
	// history is how many events each saga rig database holds before its relays start
	// (burst_recovery sets it; the others run on empty databases).
	history int
}

func main() {
	var o options
	// burst_recovery runs first: its figures are CPU seconds of Postgres and this process,
	// which the other benchmarks' leftovers (autovacuum after the relay backlog, a large
	// heap) would add to. visible runs before projections: the million-event projector and
	// rebuild benchmarks leave Elasticsearch, Kafka and this process busy for a while
	// afterwards (merges, topic deletion, a large heap), which roughly doubles the visibility
	// tail measured after them.
	only := flag.String("only", "burst_recovery,append,relay,latency,saga,flash_sale,visible,projections,hot_load,tracing,personal_data", "comma-separated benchmarks to run")
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "length of each timed phase")
	flag.IntVar(&o.backlog, "backlog", 200_000, "events in the relay drain benchmark")
	flag.IntVar(&o.batch, "batch", 0, "relay batch size (0: the relay default)")
	flag.IntVar(&o.rate, "rate", 1000, "events/s in the steady-state latency benchmark")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	memprofile := flag.String("memprofile", "", "write an allocation profile of the whole run to this file")
	flag.Parse()
	if *memprofile != "" {
		defer writeAllocs(*memprofile)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	o.concurrency = []int{1, 8, 32}
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	o.cfg = cfg
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	benches := map[string]func(context.Context, options) error{
		"append": benchAppend, "relay": benchRelayDrain, "latency": benchLatency, "saga": benchSaga,
		"projections": benchProjections, "visible": benchVisible, "burst_recovery": benchBurstRecovery,
		"flash_sale": benchFlashSale, "hot_load": benchHotLoad, "tracing": benchTracing,
		"personal_data": benchPersonalData,
	}
	for _, name := range strings.Split(*only, ",") {
		fn, ok := benches[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown benchmark %q\n", name)
			os.Exit(2)
		}
		quiesce(ctx, o)
		if err := fn(ctx, o); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
			pprof.StopCPUProfile()
			os.Exit(1)
		}
	}
}

// report prints one BENCH line.
func report(name string, value float64, unit string, baseline float64) {
	ratio := 0.0
	if baseline != 0 {
		ratio = value / baseline
	}
	fmt.Printf("BENCH %s %.2f %s baseline=%.2f ratio=%.3f\n", name, value, unit, baseline, ratio)
}

// percentile returns the p-th percentile (0..100) of ds in milliseconds.
func percentile(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := min(int(float64(len(s))*p/100), len(s)-1)
	return float64(s[i].Microseconds()) / 1000
}

// writeAllocs writes the allocation profile (every allocation since the start, sampled).
func writeAllocs(path string) {
	f, err := os.Create(path)
	if err == nil {
		err = errors.Join(pprof.Lookup("allocs").WriteTo(f, 0), f.Close())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "memprofile:", err)
	}
}
