package chaos

import (
	"fmt"
	"image/color"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// WritePNG draws the run's timeline to a PNG file: orders accepted and confirmed per
// second, first attempts answered 503 or not at all, and a vertical line at each fault's
// injection (red) and recovery (green), labelled with the fault's name.
func (rep *Report) WritePNG(path string) error {
	n := int(rep.LoadEnd.Add(rep.QuietAfter).Sub(rep.LoadStart)/time.Second) + 1
	if n <= 1 || n > 100000 {
		return fmt.Errorf("chaos: nothing to plot")
	}
	accepted, confirmed, refused := make(plotter.XYs, n), make(plotter.XYs, n), make(plotter.XYs, n)
	for i := range n {
		accepted[i].X, confirmed[i].X, refused[i].X = float64(i), float64(i), float64(i)
	}
	sec := func(t time.Time) int { return min(max(int(t.Sub(rep.LoadStart)/time.Second), 0), n-1) }
	for _, s := range rep.Sent {
		if s.Kind != KindPlaceOrder || s.At.Before(rep.LoadStart) {
			continue
		}
		if s.Accepted {
			accepted[sec(s.At)].Y++
		}
		if s.FirstStatus == 0 || s.FirstStatus >= 500 {
			refused[sec(s.At)].Y++
		}
	}
	top := 1.0
	for _, t := range rep.Confirmed {
		if !t.Before(rep.LoadStart) {
			confirmed[sec(t)].Y++
			top = max(top, confirmed[sec(t)].Y)
		}
	}
	p := plot.New()
	p.Title.Text = "Shopflow chaos run " + rep.Start.Format("2006-01-02 15:04")
	p.X.Label.Text = "seconds since the load started"
	p.Y.Label.Text = "orders per second"
	p.Legend.Top = true
	if err := rep.addSeries(p, accepted, confirmed, refused); err != nil {
		return err
	}
	if err := rep.addFaultLines(p, top); err != nil {
		return err
	}
	return p.Save(30*vg.Centimeter, 14*vg.Centimeter, path)
}

// addSeries adds the three per-second series.
func (rep *Report) addSeries(p *plot.Plot, accepted, confirmed, refused plotter.XYs) error {
	for _, s := range []struct {
		name string
		xys  plotter.XYs
		c    color.RGBA
	}{
		{"orders accepted (by when placed)", accepted, color.RGBA{70, 110, 200, 255}},
		{"orders confirmed", confirmed, color.RGBA{20, 20, 20, 255}},
		{"first attempt 5xx or unanswered", refused, color.RGBA{230, 140, 20, 255}},
	} {
		l, err := plotter.NewLine(s.xys)
		if err != nil {
			return fmt.Errorf("chaos: plot: %w", err)
		}
		l.Color = s.c
		p.Add(l)
		p.Legend.Add(s.name, l)
	}
	return nil
}

// addFaultLines marks each fault's injection and recovery.
func (rep *Report) addFaultLines(p *plot.Plot, top float64) error {
	var labels plotter.XYLabels
	for i, f := range rep.Faults {
		if f.Injected.IsZero() {
			continue
		}
		for _, m := range []struct {
			at time.Time
			c  color.RGBA
		}{{f.Injected, color.RGBA{200, 30, 30, 255}}, {f.Recovered, color.RGBA{30, 160, 60, 255}}} {
			if m.at.IsZero() || (m.at.Equal(f.Injected) && m.c.G > 100) {
				continue
			}
			x := m.at.Sub(rep.LoadStart).Seconds()
			l, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: top}})
			if err != nil {
				return fmt.Errorf("chaos: plot: %w", err)
			}
			l.Color, l.Dashes = m.c, []vg.Length{vg.Points(4), vg.Points(3)}
			p.Add(l)
		}
		labels.XYs = append(labels.XYs, plotter.XY{X: f.Injected.Sub(rep.LoadStart).Seconds(), Y: top * (0.95 - 0.07*float64(i%4))})
		labels.Labels = append(labels.Labels, f.Name)
	}
	if len(labels.Labels) == 0 {
		return nil
	}
	ls, err := plotter.NewLabels(labels)
	if err != nil {
		return fmt.Errorf("chaos: plot: %w", err)
	}
	p.Add(ls)
	return nil
}
