package console_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/shopflow/shopflow/domain/inventory"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/auth"
	"github.com/shopflow/shopflow/internal/command"
	"github.com/shopflow/shopflow/internal/testenv"
)

// browser returns a chromedp context driving Debian's chromium (scripts/chromium.sh
// installs it; SHOPFLOW_CHROMIUM or PATH finds it). Without it the test is skipped, or
// fails when servers are required (CI=true, make test).
func browser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("SHOPFLOW_CHROMIUM")
	if path == "" {
		path, _ = exec.LookPath("chromium")
	}
	if path == "" {
		msg := "chromium not found (scripts/chromium.sh ensure installs it)"
		if testenv.Required() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(1360, 900), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	if err := chromedp.Do(bctx); err != nil { // starts the browser, for as long as bctx lives
		t.Fatalf("start chromium %s: %v", path, err)
	}
	ctx, cancel := context.WithTimeout(bctx, 4*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// screenshots is where the test saves its screenshots: SHOPFLOW_SCREENSHOTS_DIR (the
// README's are refreshed with SHOPFLOW_SCREENSHOTS_DIR=$PWD/docs/console), else a
// temporary directory, so that a test run leaves the tree as it was.
func screenshots(t *testing.T) string {
	if dir := os.Getenv("SHOPFLOW_SCREENSHOTS_DIR"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

// shot saves a full-page screenshot as dir/name.png.
func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// load navigates to a console page, waits for sel and reports how long it took.
func load(t *testing.T, ctx context.Context, url, sel string) time.Duration {
	t.Helper()
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		t.Fatalf("load %s (waiting for %s): %v", url, sel, err)
	}
	return time.Since(start)
}

// text returns the text of the first element matching sel.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// waitText polls the page until sel's text contains want.
func waitText(t *testing.T, ctx context.Context, sel, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		s, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(sel)))
		cancel()
		if err == nil && strings.Contains(s, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never showed %q (last: %q, %v)", sel, want, s, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// signIn pastes a token into the sign-in page shown and submits it.
func signIn(t *testing.T, ctx context.Context, token string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#token")), chromedp.SetValue(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#sign-in"))); err != nil {
		t.Fatalf("sign in: %v", err)
	}
}

// The console in a real browser against a real stack: one signs in with an admin token
// (a token without the admin scope is turned away); every page loads; an order is
// followed from the overview to its journey, which says why it was rejected; a real dead
// letter is redriven with a confirmation and seen processed; a rebuild is started from the
// page and watched until it is done. Each page is saved as a screenshot.
func TestConsoleInABrowser(t *testing.T) {
	ctx := browser(t)
	s := newStack(t)
	dir := screenshots(t)

	product := s.product("LAMP-1", 20)
	rich, poor := s.customer("Ada", 100_000), s.customer("Bob", 0)
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	confirmed := s.order(rich, product, 2, "0af7651916cd43dd8448eb211c80319c")
	rejected := s.order(poor, product, 1, trace)
	if j := s.settled(confirmed); j.Status != "confirmed" {
		t.Fatalf("order %s: %+v", confirmed, j)
	}
	if j := s.settled(rejected); j.Status != "rejected" || j.Reason != "insufficient_funds" {
		t.Fatalf("order %s: %+v", rejected, j)
	}
	parked := s.parkOrder(rich, product)
	timings := map[string]time.Duration{}

	t.Run("sign in", func(t *testing.T) {
		// Without a token every page leads to the sign-in page, which says why; a token
		// without the admin scope is refused there too; an admin token opens the console.
		load(t, ctx, s.URL+"/console/dead-letters", "#login-form")
		if why := text(t, ctx, "#why"); !strings.Contains(why, "bearer token") {
			t.Errorf("sign-in page without a token says %q", why)
		}
		signIn(t, ctx, s.token(auth.ScopeRead))
		waitText(t, ctx, "#why", "admin", 10*time.Second)
		shot(t, ctx, dir, "sign-in")
		signIn(t, ctx, s.token(auth.ScopeAdmin))
		if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#letters"))); err != nil {
			t.Fatalf("an admin token did not open the page asked for: %v", err)
		}
	})

	t.Run("overview to journey", func(t *testing.T) {
		timings["overview"] = load(t, ctx, s.URL+"/console", "#recent-orders a[href='/console/orders/"+rejected+"']")
		waitText(t, ctx, "#contexts", "inventory", 10*time.Second)
		waitText(t, ctx, "#dead-letter-counts", "orders", 10*time.Second)
		shot(t, ctx, dir, "overview")
		start := time.Now()
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#recent-orders a[href='/console/orders/"+rejected+"']")),
			chromedp.WaitVisible(chromedp.CSS("#journey"))); err != nil {
			t.Fatal(err)
		}
		timings["journey"] = time.Since(start)
		if got := text(t, ctx, "#status") + " " + text(t, ctx, "#reason"); got != "rejected insufficient_funds" {
			t.Errorf("journey says %q", got)
		}
		steps := text(t, ctx, "#journey")
		for _, want := range []string{"OrderPlaced", "OrderStockReserved", "PaymentDeclined", "OrderRejected", "StockReleased"} {
			if !strings.Contains(steps, want) {
				t.Errorf("journey lacks %s:\n%s", want, steps)
			}
		}
		if !strings.Contains(text(t, ctx, "#outcome"), "balance was too low") {
			t.Errorf("outcome: %s", text(t, ctx, "#outcome"))
		}
		href, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#trace-link"), "href"))
		if err != nil || href.Value != "http://127.0.0.1:16686/trace/"+trace {
			t.Errorf("trace link %+v, %v", href, err)
		}
		shot(t, ctx, dir, "journey")
	})

	t.Run("streams and time travel", func(t *testing.T) {
		timings["streams"] = load(t, ctx, s.URL+"/console/streams?type=order", "#stream-list")
		if !strings.Contains(text(t, ctx, "#stream-list"), "order-"+confirmed) {
			t.Errorf("order streams lack %s", confirmed)
		}
		shot(t, ctx, dir, "streams")
		timings["stream"] = load(t, ctx, s.URL+"/console/streams?q=product-"+product, "#events")
		if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#time-travel input[name=version]"), "1"),
			chromedp.Click(chromedp.CSS("#fold-version")), chromedp.WaitVisible(chromedp.CSS("#state"))); err != nil {
			t.Fatal(err)
		}
		if st := text(t, ctx, "#state"); !strings.Contains(st, `"available": 20`) || !strings.Contains(st, `"reserved": 0`) {
			t.Errorf("product at version 1: %s", st)
		}
		shot(t, ctx, dir, "stream-time-travel")
	})

	t.Run("redrive dead letters", func(t *testing.T) {
		timings["dead letters"] = load(t, ctx, s.URL+"/console/dead-letters?source=orders", "#letters")
		waitText(t, ctx, "#letters", "PaymentCaptured", 5*time.Second)
		if got := text(t, ctx, "#letters"); strings.Count(got, "not processed") != 2 {
			t.Fatalf("letters before the redrive: %q", got)
		}
		shot(t, ctx, dir, "dead-letters")
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#redrive-all")), chromedp.WaitVisible(chromedp.CSS("#confirm-redrive"))); err != nil {
			t.Fatal(err)
		}
		shot(t, ctx, dir, "dead-letters-confirm")
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#confirm-redrive")), chromedp.WaitVisible(chromedp.CSS("#redrive-outcome"))); err != nil {
			t.Fatal(err)
		}
		waitText(t, ctx, "#redrive-outcome", "inbox shows", 30*time.Second) // the page refreshes until both are processed
		if got := text(t, ctx, "#letters"); strings.Contains(got, "not processed") || strings.Count(got, "processed") != 2 {
			t.Fatalf("letters after the redrive: %q", got)
		}
		shot(t, ctx, dir, "dead-letters-redriven")
		load(t, ctx, s.URL+"/console/orders/"+parked, "#journey")
		waitText(t, ctx, "#status", "confirmed", 30*time.Second)
	})

	t.Run("rebuild a read model", func(t *testing.T) {
		timings["read models"] = load(t, ctx, s.URL+"/console/read-models", "#rebuild-orders")
		waitText(t, ctx, "#rm-orders", "live", 15*time.Second)
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#rebuild-orders")),
			chromedp.WaitVisible(chromedp.CSS("#rm-orders .progress"))); err != nil {
			t.Fatal(err)
		}
		waitText(t, ctx, "#rm-orders .rebuild", "done:", 90*time.Second)
		var doc struct {
			Status string `json:"status"`
		}
		s.do("GET", "/v1/orders/"+confirmed, "", 200, &doc) // reads went on, and go on
		if doc.Status != "confirmed" {
			t.Errorf("order %s after the rebuild: %q", confirmed, doc.Status)
		}
		shot(t, ctx, dir, "read-models")
	})
	for page, d := range timings {
		t.Logf("page %-12s loaded in the browser in %s", page, d.Round(time.Millisecond))
	}
}

// parkOrder makes the orders reactor park real messages, as when the orders database was
// restored from a backup behind the others: inventory's OrderStockReserved for an order
// the orders database does not hold (permanent: "order not found"), and the payments
// reactor's capture for it, which the orders reactor parks too. Then the order arrives in
// the orders database; inventory reserves it again, payments has captured it already, so
// it waits for its capture, which is in the dead-letter topic. It returns the order id.
func (s *stack) parkOrder(customer, product string) string {
	t := s.t
	orderID := uuid.Must(uuid.NewV7()).String()
	payload := fmt.Sprintf(`{"order_id":%q,"customer_id":%q,"lines":[{"product_id":%q,"sku":"LAMP-1","name":"Console LAMP-1","quantity":1,"unit_price_cents":1250}],"total_cents":1250,"currency":"EUR"}`,
		orderID, customer, product)
	env := eventstore.Envelope{EventID: uuid.Must(uuid.NewV7()), EventType: inventory.TypeOrderStockReserved, SchemaVersion: 1,
		StreamID: inventory.ReservationAggregateType + "-" + orderID, StreamType: inventory.ReservationAggregateType,
		Version: 1, RecordedAt: time.Now().UTC(), Metadata: eventstore.Metadata{CorrelationID: orderID}, Payload: []byte(payload)}
	rec, err := env.Record(s.Saga.Inventory.EventsTopic)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Producer.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var letters struct {
		Letters []struct {
			EventType string `json:"event_type"`
			Error     string `json:"error"`
		} `json:"letters"`
	}
	eventually(t, 30*time.Second, "two dead letters", func() bool {
		s.do("GET", "/v1/dead-letters/orders", "", 200, &letters)
		return len(letters.Letters) >= 2
	})
	for _, l := range letters.Letters {
		if !strings.Contains(l.Error, "not found") {
			t.Fatalf("dead letter %+v", l)
		}
	}
	orders, err := command.NewRepository(s.Stores["orders"].Store, command.OrderType(), command.Config{})
	if err != nil {
		t.Fatal(err)
	}
	o, err := order.Place(orderID, customer, []order.Line{{ProductID: product, Quantity: 1}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := orders.Create(context.Background(), o, command.Options{}); err != nil {
		t.Fatal(err)
	}
	var j struct {
		Steps []struct {
			EventType string `json:"event_type"`
		} `json:"steps"`
		Status string `json:"status"`
	}
	eventually(t, 30*time.Second, "the order's settlement priced", func() bool {
		s.do("GET", "/v1/orders/"+orderID+"/journey", "", 200, &j)
		return strings.Contains(fmt.Sprint(j.Steps), "OrderSettlementPriced")
	})
	if j.Status != "pending" {
		t.Fatalf("order %s is %s before the redrive", orderID, j.Status)
	}
	return orderID
}
