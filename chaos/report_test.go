package chaos

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLongestGapCountsTheEdgesOfTheWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	ts := []time.Time{at(-5), at(1), at(2), at(7), at(8), at(30)}
	if got := longestGap(ts, at(0), at(10)); got != 5*time.Second {
		t.Errorf("gap = %v, want 5s (from 2 to 7)", got)
	}
	if got := longestGap(ts, at(0), at(20)); got != 12*time.Second {
		t.Errorf("gap = %v, want 12s (from 8 to the window's end)", got)
	}
	if got := longestGap(nil, at(0), at(3)); got != 3*time.Second {
		t.Errorf("gap without confirmations = %v, want the whole window", got)
	}
}

// fakeReport is a report of a 20 s run with one fault, as a run would fill it.
func fakeReport() *Report {
	t0 := time.Now().Add(-time.Minute)
	rep := &Report{Start: t0, LoadStart: t0, LoadEnd: t0.Add(20 * time.Second), Options: Options{Deadline: 30 * time.Second}}
	for i := range 200 {
		at := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		rep.Sent = append(rep.Sent, &Sent{Kind: KindPlaceOrder, At: at, Accepted: true, Status: 202, FirstStatus: 202})
		if i < 80 || i > 120 {
			rep.Confirmed = append(rep.Confirmed, at.Add(50*time.Millisecond))
		}
	}
	rep.Faults = []FaultRecord{{Name: "kill_kafka", What: "kill -9", Injected: t0.Add(8 * time.Second),
		Recovered: t0.Add(12 * time.Second), Ready: t0.Add(13 * time.Second)}}
	rep.Results = []Result{{Name: CheckFinal, Summary: "200 orders"}, {Name: CheckOnce, Summary: "x", Problems: []string{"twice"}}}
	return rep
}

func TestReportSaysWhichCheckFailedAndShowsTheFault(t *testing.T) {
	rep := fakeReport()
	rep.analyse(&Evidence{})
	var b bytes.Buffer
	rep.Write(&b)
	out := b.String()
	for _, want := range []string{"FAILED", "PASS final", "FAIL (1 problems) once", "- twice", "kill_kafka", "<- kill_kafka recovered"} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if rep.OK() {
		t.Error("a report with a failed check is OK")
	}
}

func TestWritePNGDrawsTheTimeline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "timeline.png")
	if err := fakeReport().WritePNG(path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 500 || b.Dy() < 200 {
		t.Errorf("image is %v", b)
	}
}
