package projections

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// FuzzParseCursor feeds ParseCursor arbitrary strings: it must refuse with ErrBadCursor or
// return a cursor that encodes back to one it parses the same, and never panic.
func FuzzParseCursor(f *testing.F) {
	good := Cursor{Query: "abc", Values: []json.RawMessage{json.RawMessage(`1700000000000`), json.RawMessage(`"id-1"`)}}
	for _, s := range []string{"", "not-a-cursor", "%%%", good.String(), strings.Repeat("A", 10<<10),
		Cursor{Query: "x", Values: []json.RawMessage{json.RawMessage(`1e999`), json.RawMessage(`null`)}}.String(),
		Cursor{Query: "x", Values: []json.RawMessage{json.RawMessage(`{"script":"x"}`), json.RawMessage(`[1]`)}}.String(),
		"eyJxIjoiYSIsInYiOlsxLDJdLCJ4IjoxfQ", // {"q":"a","v":[1,2],"x":1}: an unknown member
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCursor(s)
		if err != nil {
			return
		}
		again, err := ParseCursor(c.String())
		if err != nil || again.Query != c.Query || len(again.Values) != len(c.Values) {
			t.Fatalf("cursor %q parsed as %+v does not round-trip: %+v, %v", s, c, again, err)
		}
		for _, spec := range []sortSpec{{field: "placed_at", kind: kindInteger}, {field: "_score", kind: kindFloat}, {field: "name", kind: kindKeyword}} {
			if spec.check(c) != nil {
				continue
			}
			// A cursor a sort accepts goes to Elasticsearch as search_after values: scalars only.
			for _, v := range c.Values {
				var x any
				if json.Unmarshal(v, &x) != nil {
					t.Fatalf("cursor %q: value %s is not JSON", s, v)
				}
				switch x.(type) {
				case map[string]any, []any, bool:
					t.Fatalf("cursor %q: %s accepts the value %s", s, spec.field, v)
				}
			}
		}
	})
}

// FuzzSearchText checks that the text of a search reaches Elasticsearch only as the value a
// multi_match analyses, never as query syntax: whatever it holds, the search body is the
// same JSON structure with the text in one place.
func FuzzSearchText(f *testing.F) {
	for _, s := range []string{"widget", `status:paid OR *:*`, `{"query":{"match_all":{}}}`, `"\/(`, "\x00\xff", `name:/.*/ AND _exists_:id`} {
		f.Add(s, int64(0))
	}
	f.Fuzz(func(t *testing.T, text string, from int64) {
		ts := time.UnixMilli(from % (1 << 50)).In(time.FixedZone("", int(from%(24*3600))))
		q := OrderQuery{Text: text, CreatedFrom: &ts}
		body, err := json.Marshal(q.body(sortSpec{field: "placed_at", kind: kindInteger}, 10))
		if err != nil {
			t.Fatalf("search body of %q: %v", text, err)
		}
		var got map[string]any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		must := got["query"].(map[string]any)["bool"].(map[string]any)["must"]
		if text == "" {
			return
		}
		mm, ok := must.(map[string]any)["multi_match"].(map[string]any)
		if !ok || len(must.(map[string]any)) != 1 {
			t.Fatalf("text %q: query %v", text, must)
		}
		want, _ := json.Marshal(text) // as the body holds it
		var wantText string
		_ = json.Unmarshal(want, &wantText)
		if mm["query"] != wantText {
			t.Fatalf("text %q appears as %v in %s", text, mm["query"], body)
		}
		// Apart from that one value, the body is the body of any other text.
		mm["query"] = "x"
		q.Text = "x"
		other, _ := json.Marshal(q.body(sortSpec{field: "placed_at", kind: kindInteger}, 10))
		if again, _ := json.Marshal(got); string(again) != string(other) {
			t.Fatalf("text %q changes the search body: %s", text, body)
		}
	})
}
