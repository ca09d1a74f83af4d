package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopflow/shopflow/internal/config"
	"github.com/shopflow/shopflow/internal/testenv"
)

// forgetStack is shopflow serve on fresh databases and a namespace of its own, as
// runServe runs it, without tracing; the namespace's indices and topics are deleted after.
type forgetStack struct {
	*e2e
	es string // the first Elasticsearch URL
}

func startForgetServe(t *testing.T) *forgetStack {
	t.Helper()
	s := &forgetStack{}
	t.Cleanup(func() { // registered first, so it runs after serve has stopped
		if s.e2e != nil {
			s.dropNamespace()
		}
	})
	s.e2e = runServe(t, "forget", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_TRACES_EXPORTER": "none"})
	s.es = strings.TrimRight(s.cfg.ElasticsearchURLs[0], "/")
	return s
}

// dropNamespace deletes the test's indices and topics.
func (s *forgetStack) dropNamespace() {
	req, _ := http.NewRequest(http.MethodDelete, s.es+"/"+s.cfg.IndexPrefix()+"*", nil)
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
	}
	cl := testenv.Kafka(s.t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = kadm.NewClient(cl).DeleteTopics(ctx, s.cfg.Topics()...)
}

type created struct {
	ID      string `json:"id"`
	Version int64  `json:"version"`
}

// After POST /v1/customers/{id}/forget, the customer's email and name are found in clear
// nowhere on the real servers: not in any row of any table of the three databases (events,
// outbox, snapshots, claims, keys, …), not in any record of any of the deployment's Kafka
// topics (events and dead letters; key, value and headers), not in any document of any of
// its Elasticsearch indices, old generations included — and not after a full rebuild
// either. The API shows the customer as forgotten; the customer's orders keep everything
// else.
func TestForgottenCustomerIsFoundInClearNowhere(t *testing.T) {
	s := startForgetServe(t)
	marker := strings.ToLower(testenv.Name("forgetme"))
	email, name := marker+"@example.com", "Name"+marker
	sku := strings.ToUpper(testenv.Name("SKU")) // clear everywhere: proves each scan can find
	var product, ada, control created
	s.do("POST", "/v1/products", fmt.Sprintf(`{"sku":%q,"name":"Mug","price_cents":1200,"currency":"EUR","initial_stock":50}`, sku), &product)
	s.do("POST", "/v1/customers", fmt.Sprintf(`{"name":%q,"email":%q}`, name, email), &ada)
	controlEmail := strings.ToLower(testenv.Name("keepme")) + "@example.com"
	s.do("POST", "/v1/customers", fmt.Sprintf(`{"name":"Control","email":%q}`, controlEmail), &control)
	s.do("POST", "/v1/customers/"+ada.ID+"/deposits", `{"amount_cents":50000}`, nil)
	for range 55 { // past SnapshotEvery (50): the account has a snapshot row
		s.do("POST", "/v1/customers/"+ada.ID+"/deposits", `{"amount_cents":1}`, nil)
	}
	orders := []string{s.placeConfirmed(ada.ID, product.ID, 2), s.placeConfirmed(ada.ID, product.ID, 3)}
	s.do("POST", "/v1/orders/"+orders[1]+"/cancel", `{"reason":"changed my mind"}`, nil)
	s.waitOrder(orders[1], func(o map[string]any) bool { return o["status"] == "cancelled" })
	s.produceDeadLetter(ada.ID, control.ID)
	s.rebuild() // generation 2 of every read model, behind the aliases
	before := map[string]map[string]any{}
	for _, id := range orders {
		before[id] = s.waitOrder(id, func(o map[string]any) bool { return customerOf(o)["email"] == email })
	}
	for _, model := range []string{"customers", "orders"} {
		if n := s.keepOldGeneration(model, email); n == 0 {
			t.Fatalf("the old generation of %s holds no document with the email: nothing to forget there", model)
		}
	}
	s.requireSnapshot("account-" + ada.ID)

	// Forget, with the customer's own token, then again as admin: the same version.
	var forgot, again created
	s.as(mint(t, s.cfg, "--customer", ada.ID)).do("POST", "/v1/customers/"+ada.ID+"/forget", "", &forgot)
	s.do("POST", "/v1/customers/"+ada.ID+"/forget", "{}", &again)
	if forgot.ID != ada.ID || again.Version != forgot.Version {
		t.Fatalf("forget answered %+v, then %+v; want the customer and the same version", forgot, again)
	}
	s.checkForgotten(ada.ID, forgot.Version, orders, before, email)
	s.scan(t, "after forget", []string{email, name}, sku, controlEmail)

	s.rebuild()
	s.checkForgotten(ada.ID, forgot.Version, orders, before, email)
	s.scan(t, "after rebuild", []string{email, name}, sku, controlEmail)
	var reopened created // the email is free again
	s.do("POST", "/v1/customers", fmt.Sprintf(`{"name":"Ada again","email":%q}`, email), &reopened)
}

// as returns the stack acting with another token.
func (s *forgetStack) as(token string) *forgetStack {
	c := *s
	e := *s.e2e
	e.token, c.e2e = token, &e
	return &c
}

// placeConfirmed places an order of quantity products and waits until it is confirmed.
func (s *forgetStack) placeConfirmed(customer, product string, quantity int) string {
	var o created
	s.do("POST", "/v1/orders", fmt.Sprintf(`{"customer_id":%q,"lines":[{"product_id":%q,"quantity":%d}]}`, customer, product, quantity), &o)
	s.waitOrder(o.ID, func(doc map[string]any) bool { return doc["status"] == "confirmed" })
	return o.ID
}

// waitOrder reads an order from the read model until ok accepts it (two minutes at most).
func (s *forgetStack) waitOrder(id string, ok func(map[string]any) bool) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var doc map[string]any
		res, data := s.send("GET", "/v1/orders/"+id, "")
		if res.StatusCode == http.StatusOK {
			if err := json.Unmarshal(data, &doc); err != nil {
				s.t.Fatal(err)
			}
			if ok(doc) {
				return doc
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("order %s did not become as expected: %d %s", id, res.StatusCode, data)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func customerOf(order map[string]any) map[string]any {
	c, _ := order["customer"].(map[string]any)
	return c
}

// checkForgotten checks the API: the customer forgotten, its orders unchanged but for the
// customer.
func (s *forgetStack) checkForgotten(customer string, version int64, orders []string, before map[string]map[string]any, email string) {
	s.t.Helper()
	var c map[string]any
	s.do("GET", fmt.Sprintf("/v1/customers/%s?min_version=%d&wait=10s", customer, version), "", &c)
	if c["forgotten"] != true || c["name"] != "" || c["email"] != "" || c["balance_cents"] != float64(50055-1200*2) {
		s.t.Errorf("customer after forget: %v; want forgotten, no name or email, balance kept", c)
	}
	for _, id := range orders {
		doc := s.waitOrder(id, func(o map[string]any) bool { return customerOf(o)["forgotten"] == true })
		if c := customerOf(doc); c["name"] != "" || c["email"] != "" {
			s.t.Errorf("order %s shows customer %v", id, c)
		}
		was, is := withoutCustomer(before[id]), withoutCustomer(doc)
		if !reflect.DeepEqual(was, is) {
			s.t.Errorf("order %s changed beyond its customer:\nbefore %v\nafter  %v", id, was, is)
		}
	}
	// Searches see a change within the refresh interval (1 s): wait for it, boundedly.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var page struct {
			Items []map[string]any `json:"items"`
		}
		s.do("GET", "/v1/orders?q="+strings.TrimSuffix(email, "@example.com"), "", &page)
		if len(page.Items) == 0 {
			break
		}
		if time.Now().After(deadline) {
			s.t.Errorf("a search for the forgotten email still finds %d orders", len(page.Items))
			break
		}
	}
}

func withoutCustomer(order map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range order {
		if k != "customer" {
			out[k] = v
		}
	}
	return out
}

// rebuild rebuilds every read model from the topics, as `shopflow projections rebuild all`.
func (s *forgetStack) rebuild() {
	s.t.Helper()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	if err := projectionsCmd(context.Background(), s.cfg, log, []string{"rebuild", "all"}); err != nil {
		s.t.Fatalf("rebuild: %v", err)
	}
}

// produceDeadLetter publishes a poison copy of the customer's AccountOpened (same key,
// headers and sealed payload, but naming the control customer) to the payments topic: the
// read models dead-letter it with its bytes. It waits until the projections' dead-letter
// topic holds it.
func (s *forgetStack) produceDeadLetter(customer, other string) {
	s.t.Helper()
	cl := testenv.Kafka(s.t)
	topic := s.cfg.EventsTopic("payments")
	var opened *kgo.Record
	s.eachRecord([]string{topic}, func(r *kgo.Record) {
		if opened == nil && string(r.Key) == "account-"+customer {
			opened = r
		}
	})
	if opened == nil {
		s.t.Fatal("the customer's AccountOpened is not on the payments topic")
	}
	poison := &kgo.Record{Topic: topic, Key: opened.Key, Headers: opened.Headers,
		Value: bytes.Replace(opened.Value, []byte(customer), []byte(other), 1)}
	if err := cl.ProduceSync(context.Background(), poison).FirstErr(); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		n := 0
		s.eachRecord([]string{s.cfg.DeadLetterTopic("projections")}, func(r *kgo.Record) {
			if bytes.Contains(r.Value, []byte(other)) {
				n++
			}
		})
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatal("the poison record never reached the projections' dead-letter topic")
		}
		time.Sleep(time.Second)
	}
}

// eachRecord calls fn with every record of the topics, from their start to their end now.
func (s *forgetStack) eachRecord(topics []string, fn func(*kgo.Record)) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm := kadm.NewClient(testenv.Kafka(s.t))
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		s.t.Fatal(err)
	}
	want := map[string]map[int32]kgo.Offset{}
	left := 0
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			s.t.Fatalf("end offset of %s/%d: %v", o.Topic, o.Partition, o.Err)
		}
		if o.Offset > 0 {
			if want[o.Topic] == nil {
				want[o.Topic] = map[int32]kgo.Offset{}
			}
			want[o.Topic][o.Partition] = kgo.NewOffset().AtStart()
			left++
		}
	})
	if left == 0 {
		return
	}
	cl := testenv.Kafka(s.t, kgo.ConsumePartitions(want))
	for left > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			s.t.Fatalf("reading %v: %v", topics, err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			fn(r)
			if end, _ := ends.Lookup(r.Topic, r.Partition); r.Offset == end.Offset-1 {
				left--
			}
		})
	}
}

// keepOldGeneration copies the live index of a read model into generation 1, the one the
// rebuild replaced, as an index a failed delete left behind: a forget must reach it too.
// It returns how many of the copied documents hold needle.
func (s *forgetStack) keepOldGeneration(model, needle string) int {
	s.t.Helper()
	alias := s.cfg.IndexPrefix() + model
	live, old := alias+"_v2", alias+"_v1"
	var mapping map[string]struct {
		Mappings json.RawMessage `json:"mappings"`
	}
	s.esDo(http.MethodGet, "/"+live+"/_mapping", nil, &mapping)
	var settings map[string]struct {
		Settings struct {
			Index struct {
				Analysis json.RawMessage `json:"analysis"`
			} `json:"index"`
		} `json:"settings"`
	}
	s.esDo(http.MethodGet, "/"+live+"/_settings", nil, &settings)
	body := map[string]any{"mappings": mapping[live].Mappings,
		"settings": map[string]any{"number_of_replicas": 0, "analysis": settings[live].Settings.Index.Analysis}}
	s.esDo(http.MethodPut, "/"+old, body, nil)
	var bulk bytes.Buffer
	holding := 0
	s.eachDoc(live, func(id string, version int64, src json.RawMessage) {
		fmt.Fprintf(&bulk, `{"index":{"_index":%q,"_id":%q,"version":%d,"version_type":"external"}}`+"\n%s\n", old, id, version, src)
		if bytes.Contains(src, []byte(needle)) {
			holding++
		}
	})
	s.esDo(http.MethodPost, "/_bulk?refresh=true", bulk.Bytes(), nil)
	return holding
}

// esDo sends a request to Elasticsearch and decodes its 2xx answer into out (unless nil).
func (s *forgetStack) esDo(method, path string, body any, out any) {
	s.t.Helper()
	var data []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		data = b
	default:
		var err error
		if data, err = json.Marshal(b); err != nil {
			s.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, s.es+path, bytes.NewReader(data))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if strings.HasPrefix(path, "/_bulk") {
		req.Header.Set("Content-Type", "application/x-ndjson")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		s.t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, answer)
	}
	if out != nil {
		if err := json.Unmarshal(answer, out); err != nil {
			s.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// eachDoc calls fn with every document of index (a scroll over all of them).
func (s *forgetStack) eachDoc(index string, fn func(id string, version int64, src json.RawMessage)) {
	s.t.Helper()
	type page struct {
		ScrollID string `json:"_scroll_id"`
		Hits     struct {
			Hits []struct {
				ID      string          `json:"_id"`
				Version int64           `json:"_version"`
				Source  json.RawMessage `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	var p page
	s.esDo(http.MethodPost, "/"+index+"/_search?scroll=1m", map[string]any{"size": 500, "version": true, "query": map[string]any{"match_all": map[string]any{}}}, &p)
	for len(p.Hits.Hits) > 0 {
		for _, h := range p.Hits.Hits {
			fn(h.ID, h.Version, h.Source)
		}
		id := p.ScrollID
		p = page{}
		s.esDo(http.MethodPost, "/_search/scroll", map[string]any{"scroll": "1m", "scroll_id": id}, &p)
	}
}

// requireSnapshot checks that the stream has a snapshot row, so that the scan covers one.
func (s *forgetStack) requireSnapshot(stream string) {
	s.t.Helper()
	conn := s.connect("payments")
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM snapshots WHERE stream_id = $1`, stream).Scan(&n); err != nil || n != 1 {
		s.t.Fatalf("snapshots of %s: %d, %v; want one", stream, n, err)
	}
}

func (s *forgetStack) connect(context_ string) *pgx.Conn {
	s.t.Helper()
	conn, err := pgx.Connect(context.Background(), s.urls[context_])
	if err != nil {
		s.t.Fatal(err)
	}
	return conn
}

// scan looks for each secret (lower-cased) in every row of every table of the three
// databases, every record of the deployment's topics and every document of its indices,
// failing for each place it is found. found must be found in Postgres and Kafka, foundES
// in Elasticsearch: the scans can see clear text.
func (s *forgetStack) scan(t *testing.T, when string, secrets []string, found, foundES string) {
	t.Helper()
	seen := map[string][]string{} // needle → places
	needles := append([]string{strings.ToLower(found), strings.ToLower(foundES)}, secrets...)
	look := func(place string, data []byte) {
		lower := bytes.ToLower(data)
		for _, n := range needles {
			if bytes.Contains(lower, []byte(strings.ToLower(n))) {
				seen[n] = append(seen[n], place)
			}
		}
	}
	for _, c := range config.Contexts {
		s.scanDatabase(c, look)
	}
	s.eachRecord(s.cfg.Topics(), func(r *kgo.Record) {
		place := fmt.Sprintf("kafka %s/%d@%d", r.Topic, r.Partition, r.Offset)
		look(place, r.Key)
		look(place, r.Value)
		for _, h := range r.Headers {
			look(place+" header "+h.Key, append([]byte(h.Key+"="), h.Value...))
		}
	})
	var indices []struct {
		Index string `json:"index"`
	}
	s.esDo(http.MethodGet, "/_cat/indices/"+s.cfg.IndexPrefix()+"*?format=json&expand_wildcards=all", nil, &indices)
	for _, ix := range indices {
		s.esDo(http.MethodPost, "/"+ix.Index+"/_refresh", nil, nil)
		s.eachDoc(ix.Index, func(id string, _ int64, src json.RawMessage) {
			look("elasticsearch "+ix.Index+"/"+id, append([]byte(id+" "), src...))
		})
	}
	var repos map[string]any
	s.esDo(http.MethodGet, "/_snapshot", nil, &repos)
	if len(repos) > 0 {
		t.Errorf("%s: Elasticsearch has snapshot repositories %v, which this test does not read", when, repos)
	}
	for _, secret := range secrets {
		if places := seen[secret]; len(places) > 0 {
			t.Errorf("%s: %q found in clear in %d places, e.g. %v", when, secret, len(places), places[:min(5, len(places))])
		}
	}
	if !strings.Contains(strings.Join(seen[strings.ToLower(found)], " "), "postgres") || !strings.Contains(strings.Join(seen[strings.ToLower(found)], " "), "kafka") {
		t.Errorf("%s: the scans did not see %q in Postgres and Kafka (seen in %v): they cannot be trusted", when, found, seen[strings.ToLower(found)])
	}
	if !strings.Contains(strings.Join(seen[strings.ToLower(foundES)], " "), "elasticsearch") {
		t.Errorf("%s: the scan did not see %q in Elasticsearch: it cannot be trusted", when, foundES)
	}
	t.Logf("%s: scanned %d databases, topics %v, %d indices", when, len(config.Contexts), s.cfg.Topics(), len(indices))
}

// scanDatabase passes every row of every table of a context's database to look: as text
// (the row's text form) and, for each bytea column, its raw bytes.
func (s *forgetStack) scanDatabase(c string, look func(place string, data []byte)) {
	s.t.Helper()
	ctx := context.Background()
	conn := s.connect(c)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_schema, table_name FROM information_schema.tables
WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`)
	if err != nil {
		s.t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Schema, Name string }])
	if err != nil || len(tables) < 5 {
		s.t.Fatalf("tables of %s: %v, %v", c, tables, err)
	}
	for _, tb := range tables {
		ident := pgx.Identifier{tb.Schema, tb.Name}.Sanitize()
		place := "postgres " + c + " " + ident
		rows, err := conn.Query(ctx, `SELECT t::text FROM `+ident+` t`)
		if err != nil {
			s.t.Fatal(err)
		}
		texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			s.t.Fatal(err)
		}
		for _, text := range texts {
			look(place, []byte(text))
		}
		s.scanBytea(conn, tb.Schema, tb.Name, place, look)
	}
}

// scanBytea passes the raw bytes of every bytea column of a table to look.
func (s *forgetStack) scanBytea(conn *pgx.Conn, schema, table, place string, look func(string, []byte)) {
	ctx := context.Background()
	rows, err := conn.Query(ctx, `SELECT column_name FROM information_schema.columns
WHERE table_schema = $1 AND table_name = $2 AND data_type = 'bytea'`, schema, table)
	if err != nil {
		s.t.Fatal(err)
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		s.t.Fatal(err)
	}
	for _, col := range cols {
		rows, err := conn.Query(ctx, `SELECT `+pgx.Identifier{col}.Sanitize()+` FROM `+pgx.Identifier{schema, table}.Sanitize()+` WHERE `+pgx.Identifier{col}.Sanitize()+` IS NOT NULL`)
		if err != nil {
			s.t.Fatal(err)
		}
		values, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
		if err != nil {
			s.t.Fatal(err)
		}
		for _, v := range values {
			look(place+"."+col, v)
		}
	}
}
