// Command shopflow-chaos is `make chaos`: it starts a scratch Shopflow stack of its own
// (its own state directory and ports, so that it can run beside the stack of `make up`
// and the tests), drives a mixed load through the public HTTP API while it injects faults
// one after another, waits for quiescence, checks the invariants from the stores
// themselves, prints the report and exits 1 if any check failed. See package chaos.
//
//	go run ./cmd/shopflow-chaos                      # the full suite, about 6 minutes
//	go run ./cmd/shopflow-chaos -short               # the short run of make test
//	go run ./cmd/shopflow-chaos -faults kill_kafka   # one fault
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/shopflow/shopflow/chaos"
)

func main() {
	root, _ := os.Getwd()
	var (
		short    = flag.Bool("short", false, "the short run: "+strings.Join(chaos.ShortFaults, ", ")+", 8 s apart")
		faults   = flag.String("faults", "", "comma-separated faults to run (default: all): "+faultNames())
		rate     = flag.Int("rate", 20, "commands per second")
		gap      = flag.Duration("gap", 15*time.Second, "steady load before the first fault, between faults and after the last")
		stateDir = flag.String("state-dir", envOr("SHOPFLOW_CHAOS_STATE_DIR", chaos.DefaultStateDir(root, "make")), "the scratch stack's state directory (wiped at the start)")
		report   = flag.String("report", "", "also write the report to this file (default: <state-dir>/report.txt)")
		png      = flag.String("png", "", "draw the timeline to this PNG file (default: <state-dir>/timeline.png)")
		keep     = flag.Bool("keep", false, "leave the scratch stack running after the run, to look at it")
		hold     = flag.Duration("failover-hold", 20*time.Second, "how long the failover fault leaves the killed instance down")
		freeze   = flag.Duration("freeze", 10*time.Second, "how long the freeze fault keeps shopflow stopped")
	)
	flag.Parse()
	o := chaos.Options{Root: root, StateDir: *stateDir, SeedStateDir: chaos.SeedDir(root), Rate: *rate, Gap: *gap, FailoverHold: *hold, Freeze: *freeze,
		Logf: func(f string, a ...any) {
			fmt.Fprintf(os.Stderr, "[chaos %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(f, a...))
		}}
	names := strings.Split(*faults, ",")
	switch {
	case *short && *faults == "":
		names, o.Gap = chaos.ShortFaults, 8*time.Second
	case *faults == "":
		names = nil
		for _, f := range chaos.Faults {
			names = append(names, f.Name)
		}
	}
	for _, n := range names {
		f, err := chaos.FaultNamed(strings.TrimSpace(n))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		o.Faults = append(o.Faults, f)
	}
	os.Exit(run(o, *report, *png, *keep))
}

func run(o chaos.Options, reportPath, pngPath string, keep bool) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, stack, err := chaos.Run(ctx, o)
	if stack != nil && !keep {
		defer func() {
			if err := stack.Stop(context.Background()); err != nil {
				fmt.Fprintln(os.Stderr, "shopflow-chaos: stop the scratch stack:", err)
			}
		}()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "shopflow-chaos:", err)
		return 1
	}
	rep.Write(os.Stdout)
	if reportPath == "" {
		reportPath = filepath.Join(o.StateDir, "report.txt")
	}
	if f, err := os.Create(reportPath); err == nil {
		rep.Write(f)
		f.Close()
		fmt.Fprintln(os.Stderr, "report written to", reportPath)
	}
	if pngPath == "" {
		pngPath = filepath.Join(o.StateDir, "timeline.png")
	}
	if err := rep.WritePNG(pngPath); err != nil {
		fmt.Fprintln(os.Stderr, "shopflow-chaos: timeline plot:", err)
	} else {
		fmt.Fprintln(os.Stderr, "timeline plot written to", pngPath)
	}
	if !rep.OK() {
		return 1
	}
	return 0
}

func faultNames() string {
	var ns []string
	for _, f := range chaos.Faults {
		ns = append(ns, f.Name)
	}
	return strings.Join(ns, ", ")
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
