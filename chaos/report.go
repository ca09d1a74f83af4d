package chaos

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/shopflow/shopflow/domain/order"
)

// Liveness is what one fault cost the saga.
type Liveness struct {
	Fault string
	// Down is from injection to recovery; ReadyAfter from recovery to every instance
	// ready.
	Down, ReadyAfter time.Duration
	// FirstConfirm is from recovery to the first order confirmed after it (-1: none).
	FirstConfirm time.Duration
	// LongestGap is the longest time without any confirmation between 2 s before the
	// fault and 30 s after its recovery (or the load's end, if sooner).
	LongestGap time.Duration
	// TimedOut counts orders placed from one deadline before the fault until 5 s after its
	// recovery that were rejected for timeout; Placed counts the orders placed then.
	TimedOut, Placed int
}

// analyse computes the liveness figures from the orders database's events.
func (rep *Report) analyse(ev *Evidence) {
	placed := map[string]time.Time{}
	timedOut := map[string]bool{}
	for _, e := range ev.Events["orders"] {
		switch e.Type {
		case order.TypeOrderPlaced:
			placed[e.StreamID] = e.RecordedAt
		case order.TypeOrderConfirmed:
			rep.Confirmed = append(rep.Confirmed, e.RecordedAt)
		case order.TypeOrderRejected:
			var r order.OrderRejected
			json.Unmarshal(e.Payload, &r)
			timedOut[e.StreamID] = r.Reason == order.ReasonTimeout
		}
	}
	slices.SortFunc(rep.Confirmed, time.Time.Compare)
	for _, f := range rep.Faults {
		if f.Err != nil || f.Injected.IsZero() {
			continue
		}
		l := Liveness{Fault: f.Name, Down: f.Recovered.Sub(f.Injected), ReadyAfter: f.Ready.Sub(f.Recovered), FirstConfirm: -1}
		if i, ok := slices.BinarySearchFunc(rep.Confirmed, f.Recovered, time.Time.Compare); ok || i < len(rep.Confirmed) {
			l.FirstConfirm = rep.Confirmed[i].Sub(f.Recovered)
		}
		end := f.Recovered.Add(30 * time.Second)
		if end.After(rep.LoadEnd) {
			end = rep.LoadEnd
		}
		l.LongestGap = longestGap(rep.Confirmed, f.Injected.Add(-2*time.Second), end)
		from, to := f.Injected.Add(-rep.Options.Deadline), f.Recovered.Add(5*time.Second)
		for id, at := range placed {
			if at.After(from) && at.Before(to) {
				l.Placed++
				if timedOut[id] {
					l.TimedOut++
				}
			}
		}
		rep.Liveness = append(rep.Liveness, l)
	}
}

// longestGap is the longest stretch of [from, to] without a time of ts (sorted).
func longestGap(ts []time.Time, from, to time.Time) time.Duration {
	last, gap := from, time.Duration(0)
	for _, t := range ts {
		if t.Before(from) {
			continue
		}
		if t.After(to) {
			break
		}
		gap = max(gap, t.Sub(last))
		last = t
	}
	return max(gap, to.Sub(last))
}

// Write prints the report: the run, one line per check with its numbers (and its first
// problems), the faults with their liveness figures, and a timeline of throughput.
func (rep *Report) Write(w io.Writer) {
	verdict := "PASSED"
	if !rep.OK() {
		verdict = "FAILED"
	}
	fmt.Fprintf(w, "Shopflow chaos run %s: %s\n", rep.Start.Format(time.RFC3339), verdict)
	fmt.Fprintf(w, "scratch stack %s (postgres %d, kafka %d, elasticsearch %d); %d commands/s for %v, settlement deadline %v\n",
		rep.Options.StateDir, rep.Ports.Postgres, rep.Ports.Kafka, rep.Ports.Elasticsearch, rep.Options.Rate,
		rep.LoadEnd.Sub(rep.LoadStart).Round(time.Second), rep.Options.Deadline)
	rep.writeLoad(w)
	if rep.QuietErr != nil {
		fmt.Fprintf(w, "quiescence: NOT reached: %v\n", rep.QuietErr)
	} else {
		fmt.Fprintf(w, "quiescence: %v after the load ended\n", rep.QuietAfter.Round(100*time.Millisecond))
	}
	fmt.Fprintln(w, "\nChecks (read from Postgres, Kafka and Elasticsearch themselves):")
	for _, r := range rep.Results {
		mark := "PASS"
		if !r.OK() {
			mark = fmt.Sprintf("FAIL (%d problems)", len(r.Problems))
		}
		fmt.Fprintf(w, "  %-4s %-12s %s\n", mark, r.Name, r.Summary)
		for i, p := range r.Problems {
			if i == 10 {
				fmt.Fprintf(w, "         … and %d more\n", len(r.Problems)-10)
				break
			}
			fmt.Fprintf(w, "         - %s\n", p)
		}
	}
	rep.writeFaults(w)
	rep.writeTimeline(w)
}

// writeLoad summarises what the load sent and how it was answered.
func (rep *Report) writeLoad(w io.Writer) {
	byKind, first := map[string]map[string]int{}, map[string]int{}
	retried := 0
	for _, s := range rep.Sent {
		k := s.Kind
		if s.Intent != "" {
			k += "/" + s.Intent
		}
		if byKind[k] == nil {
			byKind[k] = map[string]int{}
		}
		byKind[k][statusText(s.Status)]++
		first[statusText(s.FirstStatus)]++
		if s.Attempts > 1 {
			retried++
		}
	}
	fmt.Fprintf(w, "load: %d commands; first attempts answered %s; %d retried with their Idempotency-Key; final answers by kind:\n",
		len(rep.Sent), sortedCounts(first), retried)
	for _, k := range slices.Sorted(maps.Keys(byKind)) {
		fmt.Fprintf(w, "  %-32s %s\n", k, sortedCounts(byKind[k]))
	}
}

func statusText(s int) string {
	if s == 0 {
		return "none"
	}
	return fmt.Sprint(s)
}

// writeFaults prints one line per fault with its liveness figures.
func (rep *Report) writeFaults(w io.Writer) {
	fmt.Fprintln(w, "\nFaults and liveness (times from the fault's injection; confirmations from the orders database):")
	fmt.Fprintf(w, "  %-19s %8s %8s %10s %10s %6s %9s  %s\n", "fault", "at", "down", "ready+", "1st conf+", "gap", "timeouts", "what")
	live := map[string]Liveness{}
	for _, l := range rep.Liveness {
		live[l.Fault] = l
	}
	for _, f := range rep.Faults {
		if f.Err != nil {
			fmt.Fprintf(w, "  %-19s NOT CARRIED OUT: %v\n", f.Name, f.Err)
			continue
		}
		l := live[f.Name]
		first := "none"
		if l.FirstConfirm >= 0 {
			first = secs(l.FirstConfirm)
		}
		what := f.What
		if f.Note != "" {
			what += " (" + f.Note + ")"
		}
		fmt.Fprintf(w, "  %-19s %8s %8s %10s %10s %6s %4d/%-4d  %s\n", f.Name, secs(f.Injected.Sub(rep.LoadStart)), secs(l.Down),
			secs(l.ReadyAfter), first, secs(l.LongestGap), l.TimedOut, l.Placed, what)
	}
	fmt.Fprintln(w, "  down: injection → recovery (process or server back; for failover the kill itself). ready+: recovery →")
	fmt.Fprintln(w, "  /readyz 200. 1st conf+: recovery → first OrderConfirmed recorded. gap: longest time without a")
	fmt.Fprintln(w, "  confirmation from 2 s before the fault to 30 s after recovery (or the load's end). timeouts: orders rejected for timeout")
	fmt.Fprintln(w, "  of those placed from one deadline before the fault to 5 s after recovery.")
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

// writeTimeline prints, per 2 s of the load, the orders accepted, refused with 503, left
// unanswered and confirmed, with a bar of confirmations and the faults marked.
func (rep *Report) writeTimeline(w io.Writer) {
	const step = 2 * time.Second
	n := int(rep.LoadEnd.Add(rep.QuietAfter).Sub(rep.LoadStart)/step) + 1
	if n <= 0 || n > 10000 {
		return
	}
	placed, refused, none, conf := make([]int, n), make([]int, n), make([]int, n), make([]int, n)
	bucket := func(t time.Time) int { return min(max(int(t.Sub(rep.LoadStart)/step), 0), n-1) }
	for _, s := range rep.Sent {
		if s.Kind != KindPlaceOrder || s.At.Before(rep.LoadStart) {
			continue
		}
		if s.Accepted {
			placed[bucket(s.At)]++
		}
		switch s.FirstStatus {
		case 503:
			refused[bucket(s.At)]++
		case 0:
			none[bucket(s.At)]++
		}
	}
	for _, t := range rep.Confirmed {
		if !t.Before(rep.LoadStart) {
			conf[bucket(t)]++
		}
	}
	marks := map[int][]string{}
	for _, f := range rep.Faults {
		if !f.Injected.IsZero() {
			marks[bucket(f.Injected)] = append(marks[bucket(f.Injected)], "<- "+f.Name)
		}
		if !f.Recovered.IsZero() && f.Recovered.After(f.Injected.Add(time.Second)) {
			marks[bucket(f.Recovered)] = append(marks[bucket(f.Recovered)], "<- "+f.Name+" recovered")
		}
	}
	fmt.Fprintln(w, "\nTimeline (per 2 s from the load's start: orders placed then and accepted in the end, first attempts")
	fmt.Fprintln(w, "answered 503, first attempts unanswered, orders confirmed):")
	for i := range n {
		fmt.Fprintf(w, "  %5ds %4d %4d %4d %4d %-40s %s\n", i*2, placed[i], refused[i], none[i], conf[i],
			strings.Repeat("#", min(conf[i], 40)), strings.Join(marks[i], " "))
	}
}
