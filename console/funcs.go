package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/shopflow/shopflow/domain"
)

// errInvalid marks a bad page parameter (400).
type errInvalid struct{ msg string }

func (e *errInvalid) Error() string { return e.msg }

func invalid(msg string) error { return &errInvalid{msg} }

func isInvalid(err error) bool {
	var e *errInvalid
	var v *domain.ValidationError
	return errors.As(err, &e) || errors.As(err, &v)
}

func isNotFound(err error) bool { return errors.Is(err, domain.ErrNotFound) }

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"ago":     ago,
	"seconds": seconds,
	"clock":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000") },
	"pretty":  prettyRaw,
	"spark":   spark,
	"series":  series,
	"short":   short,
	"add":     func(a, b int64) int64 { return a + b },
	"deref":   func(b *bool) bool { return b != nil && *b },
	"contains": func(list []string, s string) bool {
		return strings.Contains(","+strings.Join(list, ",")+",", ","+s+",")
	},
}

// ago renders how long ago t was, "—" for the zero time.
func ago(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return seconds(time.Since(t).Seconds()) + " ago"
}

// seconds renders a duration in seconds readably.
func seconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return d.Round(time.Minute).String()
}

// prettyRaw indents a JSON payload.
func prettyRaw(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// short cuts an id to its first 8 characters after its type prefix.
func short(id string) string {
	if i := strings.LastIndex(id, "-"); len(id) > 36 && i > 0 {
		return id[:len(id)-36+8] + "…"
	}
	if len(id) > 8 {
		return id[:8] + "…"
	}
	return id
}

// series extracts one value per sample for a plot: "events" (all contexts' events per
// second), "relay_lag", "reactor_lag" or "read_model_lag".
func series(history []Sample, what string) []float64 {
	out := make([]float64, len(history))
	for i, s := range history {
		switch what {
		case "events":
			for _, v := range s.EventsPerSecond {
				out[i] += v
			}
		case "relay_lag":
			out[i] = s.RelayLagSeconds
		case "reactor_lag":
			out[i] = float64(s.ReactorLag)
		case "read_model_lag":
			out[i] = float64(s.ReadModelLag)
		}
	}
	return out
}

// spark draws values as an inline SVG line, 240×40, scaled to their maximum.
func spark(values []float64) template.HTML {
	const w, h = 240.0, 40.0
	top := 0.0
	for _, v := range values {
		top = max(top, v)
	}
	var pts strings.Builder
	for i, v := range values {
		x := w
		if len(values) > 1 {
			x = w * float64(i) / float64(len(values)-1)
		}
		y := h - 2
		if top > 0 {
			y = h - 2 - (h-4)*v/top
		}
		fmt.Fprintf(&pts, "%.1f,%.1f ", x, y)
	}
	return template.HTML(fmt.Sprintf(`<svg class="spark" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img">`+
		`<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="%s"/></svg>`, w, h, w, h, pts.String()))
}
