package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shopflow/shopflow/internal/apiclient"
)

// Command kinds the load sends, by route.
const (
	KindRegisterProduct = "register_product"
	KindOpenAccount     = "open_account"
	KindDeposit         = "deposit"
	KindRestock         = "restock"
	KindPlaceOrder      = "place_order"
	KindCancelOrder     = "cancel_order"
)

// Intents of orders: what the load means an order to meet.
const (
	IntentUniform         = "uniform"          // spread over many products, rich customers
	IntentHot             = "hot"              // the one hot product
	IntentScarce          = "scarce"           // a product with little stock: most fail
	IntentPoor            = "poor"             // a customer who cannot pay
	IntentUnknownProduct  = "unknown_product"  // a product id nobody registered
	IntentUnknownCustomer = "unknown_customer" // a customer id nobody registered
)

// Sent is one command the load sent, and how it ended.
type Sent struct {
	Kind   string
	Intent string // orders only
	At     time.Time
	// Status is the last answer's status (0: none came); Accepted is a 2xx. FirstStatus is
	// the first attempt's.
	Status, FirstStatus int
	Accepted            bool
	Attempts            int
	// Target is the aggregate the command was addressed to (product for restocks, customer
	// for deposits, order for cancels); Result is the answer's id and version.
	Target string
	Result apiclient.Created
	Amount int64 // restocked units or deposited cents
}

// world is what the load registered: the ids its orders pick from.
type world struct {
	products  []string // uniform products
	hot       string
	scarce    string
	customers []string // rich customers
	poor      string
}

// Load drives the stack's public API: it seeds products and customers, then sends a mix of
// commands at a fixed rate, each from its own goroutine, retrying an unanswered or 503
// command with the same Idempotency-Key as a careful client does. Targets can be changed
// while it runs (the instances to spread requests over).
type Load struct {
	// Rate is commands per second.
	Rate int
	// Products and Customers size the uniform part of the world.
	Products, Customers int
	// Token is the bearer token every request carries.
	Token string

	targets atomic.Pointer[[]*apiclient.Client]
	next    atomic.Uint64
	w       world
	mu      sync.Mutex
	sent    []*Sent
	orders  []string // accepted orders, for cancels
}

// SetTargets spreads the following requests over these API base URLs, round robin.
func (l *Load) SetTargets(urls ...string) {
	cs := make([]*apiclient.Client, len(urls))
	for i, u := range urls {
		cs[i] = apiclient.New(u, 10*time.Second)
		cs[i].Token = l.Token
	}
	l.targets.Store(&cs)
}

func (l *Load) client() *apiclient.Client {
	cs := *l.targets.Load()
	return cs[l.next.Add(1)%uint64(len(cs))]
}

// Sent returns every command sent so far.
func (l *Load) Sent() []*Sent {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*Sent, len(l.sent))
	copy(out, l.sent)
	return out
}

// Seed registers the world: uniform products with ample stock, one hot product, one scarce
// product (5 units), rich customers, one poor customer (50 cents). Prices are 100–999
// cents.
func (l *Load) Seed(ctx context.Context) error {
	l.w.products = make([]string, l.Products)
	l.w.customers = make([]string, l.Customers)
	var errs [4]error
	errs[0] = parallel(l.Products, func(i int) (err error) {
		l.w.products[i], err = l.product(ctx, fmt.Sprintf("uniform %d", i), 100+int64(i*37%900), 100_000)
		return err
	})
	var err error
	if l.w.hot, err = l.product(ctx, "hot", 250, 1_000_000); err != nil {
		return err
	}
	if l.w.scarce, err = l.product(ctx, "scarce", 500, 5); err != nil {
		return err
	}
	errs[1] = parallel(l.Customers, func(i int) (err error) {
		l.w.customers[i], err = l.customer(ctx, fmt.Sprintf("rich %d", i), 10_000_000)
		return err
	})
	l.w.poor, errs[2] = l.customer(ctx, "poor", 50)
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("chaos: seed: %w", err)
		}
	}
	return nil
}

// product registers one product and returns its id.
func (l *Load) product(ctx context.Context, name string, price, stock int64) (string, error) {
	s := l.send(ctx, &Sent{Kind: KindRegisterProduct, Amount: stock}, "/v1/products", map[string]any{
		"sku": "chaos-" + token(), "name": "Chaos " + name, "description": "make chaos",
		"price_cents": price, "currency": "EUR", "initial_stock": stock})
	if !s.Accepted {
		return "", fmt.Errorf("register product %s: status %d", name, s.Status)
	}
	return s.Result.ID, nil
}

// customer opens an account and deposits into it; it returns the customer id.
func (l *Load) customer(ctx context.Context, name string, deposit int64) (string, error) {
	s := l.send(ctx, &Sent{Kind: KindOpenAccount}, "/v1/customers", map[string]any{
		"name": "Chaos " + name, "email": "chaos-" + token() + "@example.com"})
	if !s.Accepted {
		return "", fmt.Errorf("open account %s: status %d", name, s.Status)
	}
	id := s.Result.ID
	d := l.send(ctx, &Sent{Kind: KindDeposit, Target: id, Amount: deposit}, "/v1/customers/"+id+"/deposits",
		map[string]any{"amount_cents": deposit})
	if !d.Accepted {
		return "", fmt.Errorf("deposit for %s: status %d", name, d.Status)
	}
	return id, nil
}

// Run sends commands at l.Rate until ctx ends, then waits for the ones in flight.
func (l *Load) Run(ctx context.Context) {
	tick := time.NewTicker(time.Second / time.Duration(l.Rate))
	defer tick.Stop()
	var wg sync.WaitGroup
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-tick.C:
			// Commands in flight finish with a context of their own: the run's end must not
			// turn an accepted command into an unanswered one.
			wg.Go(func() { l.one(context.WithoutCancel(ctx)) })
		}
	}
}

// one sends one command of the mix: 60 % uniform orders, 12 % hot, 4 % scarce, 4 % poor
// customer, 2 % unknown product, 2 % unknown customer, 8 % cancels, 4 % restocks, 4 %
// deposits.
func (l *Load) one(ctx context.Context) {
	n := mrand.IntN(100)
	switch {
	case n < 60:
		l.order(ctx, IntentUniform)
	case n < 72:
		l.order(ctx, IntentHot)
	case n < 76:
		l.order(ctx, IntentScarce)
	case n < 80:
		l.order(ctx, IntentPoor)
	case n < 82:
		l.order(ctx, IntentUnknownProduct)
	case n < 84:
		l.order(ctx, IntentUnknownCustomer)
	case n < 92:
		l.cancel(ctx)
	case n < 96:
		p := pick(l.w.products)
		q := 1 + mrand.Int64N(20)
		l.send(ctx, &Sent{Kind: KindRestock, Target: p, Amount: q}, "/v1/products/"+p+"/restock", map[string]any{"quantity": q})
	default:
		c := pick(l.w.customers)
		a := 100 + mrand.Int64N(5000)
		l.send(ctx, &Sent{Kind: KindDeposit, Target: c, Amount: a}, "/v1/customers/"+c+"/deposits", map[string]any{"amount_cents": a})
	}
}

// order places an order of the given intent.
func (l *Load) order(ctx context.Context, intent string) {
	customer, lines := pick(l.w.customers), []map[string]any{}
	line := func(p string, q int) { lines = append(lines, map[string]any{"product_id": p, "quantity": q}) }
	switch intent {
	case IntentUniform:
		for _, p := range distinct(l.w.products, 1+mrand.IntN(2)) {
			line(p, 1+mrand.IntN(3))
		}
	case IntentHot:
		line(l.w.hot, 1)
	case IntentScarce:
		line(l.w.scarce, 1)
	case IntentPoor:
		customer = l.w.poor
		line(pick(l.w.products), 1)
	case IntentUnknownProduct:
		line(newUUID(), 1)
	case IntentUnknownCustomer:
		customer = newUUID()
		line(pick(l.w.products), 1)
	}
	s := l.send(ctx, &Sent{Kind: KindPlaceOrder, Intent: intent}, "/v1/orders", map[string]any{"customer_id": customer, "lines": lines})
	if s.Accepted {
		l.mu.Lock()
		l.orders = append(l.orders, s.Result.ID)
		l.mu.Unlock()
	}
}

// cancel cancels one of the last 200 accepted orders (whatever its state: a rejected or
// cancelled one answers 409, which is a refusal, not a failure).
func (l *Load) cancel(ctx context.Context) {
	l.mu.Lock()
	var id string
	if n := len(l.orders); n > 0 {
		id = l.orders[n-1-mrand.IntN(min(n, 200))]
	}
	l.mu.Unlock()
	if id == "" {
		return
	}
	l.send(ctx, &Sent{Kind: KindCancelOrder, Target: id}, "/v1/orders/"+id+"/cancel", map[string]any{"reason": "chaos"})
}

// send posts one command under a fresh Idempotency-Key, retrying with the same key while
// no answer comes or the answer is a 429 or a 5xx (up to 6 attempts over about 15 s), and
// records it.
func (l *Load) send(ctx context.Context, s *Sent, path string, body any) *Sent {
	s.At = time.Now()
	key := "chaos-" + token()
	for wait := 250 * time.Millisecond; ; wait *= 2 {
		s.Attempts++
		var res apiclient.Created
		status, err := l.client().Post(ctx, path, key, body, &res)
		s.Status = status
		if s.Attempts == 1 {
			s.FirstStatus = status
		}
		if err == nil {
			s.Accepted, s.Result = true, res
			break
		}
		retry := status == 0 || status == http.StatusTooManyRequests || status >= http.StatusInternalServerError
		if !retry || s.Attempts >= 6 || ctx.Err() != nil {
			break
		}
		time.Sleep(wait)
	}
	l.mu.Lock()
	l.sent = append(l.sent, s)
	l.mu.Unlock()
	return s
}

// parallel runs fn(0..n-1), eight at a time, and returns the first error.
func parallel(n int, fn func(i int) error) error {
	var g errgroup.Group
	g.SetLimit(8)
	for i := range n {
		g.Go(func() error { return fn(i) })
	}
	return g.Wait()
}

func pick(ids []string) string { return ids[mrand.IntN(len(ids))] }

// distinct picks n different ids.
func distinct(ids []string, n int) []string {
	out := []string{}
	for _, i := range mrand.Perm(len(ids))[:min(n, len(ids))] {
		out = append(out, ids[i])
	}
	return out
}

func token() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newUUID returns a random (version 4) UUID: an id nobody registered.
func newUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
