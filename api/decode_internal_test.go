package api

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestIntegerTakesExactIntegersInEveryNotation(t *testing.T) {
	for raw, want := range map[string]int64{
		"27": 27, "27.0": 27, "1e3": 1000, "1.5e1": 15, "-2.50e1": -25, "0.0": 0, "0e999999999999": 0,
		"151302712834730.0": 151302712834730, "-9223372036854775808": -9223372036854775808,
		"9.223372036854775807e18": 9223372036854775807,
	} {
		if got, ok := integer(json.RawMessage(raw)); !ok || got != want {
			t.Errorf("integer(%s) = %d, %v; want %d", raw, got, ok, want)
		}
	}
	for _, raw := range []string{"27.5", "1e-1", "9223372036854775808", "9.223372036854775808e18",
		"1e309", "1e999999999", "1e99999999999999999999", "\"1\"", "true", "-9223372036854775809"} {
		if got, ok := integer(json.RawMessage(raw)); ok {
			t.Errorf("integer(%s) = %d, true; want refused", raw, got)
		}
	}
}

func TestEveryMemberIsNamedByAPathThatTellsItApart(t *testing.T) {
	var d decoder
	o := d.object("", json.RawMessage(`{"":1,"a.b":2,"x":[{"":3,"y":4,"q\"[":5}]}`))
	for _, item := range o.Objects("x", false) {
		item.done()
	}
	o.done()
	var got []string
	for _, f := range d.malformed {
		got = append(got, f.Field)
	}
	want := []string{`x[0][""]`, `x[0]["q\"["]`, "x[0].y", `[""]`, `["a.b"]`}
	if !slices.Equal(got, want) {
		t.Errorf("unknown members named %q, want %q", got, want)
	}
}

// FuzzInteger checks integer against strconv on the numbers both can read.
func FuzzInteger(f *testing.F) {
	for _, s := range []string{"1", "27.0", "1e309", "-0.0e5", "9223372036854775807", "1.000000000000000000001e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := integer(json.RawMessage(s))
		if !ok {
			return
		}
		var f float64
		if err := json.Unmarshal([]byte(s), &f); err != nil {
			t.Fatalf("integer(%q) = %d but it is not a JSON number", s, n)
		}
		if diff := f - float64(n); diff > 1e-6*max(1, abs(f)) || diff < -1e-6*max(1, abs(f)) {
			t.Fatalf("integer(%q) = %d, the number is %g", s, n, f)
		}
	})
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}
