package console

import (
	"context"
	"time"

	"github.com/shopflow/shopflow/domain/inventory"
	"github.com/shopflow/shopflow/domain/order"
	"github.com/shopflow/shopflow/domain/payment"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/command"
	"github.com/shopflow/shopflow/internal/pii"
)

// folder folds aggregate id of one stream type at a version with the domain's code and
// returns its view, the snapshot version it started from and the events applied.
type folder func(ctx context.Context, store *eventstore.Store, id string, version int64) (view any, fromSnapshot, applied int64, err error)

// newFolders returns the folder of every aggregate type; keys (may be nil) reveals the
// customers' personal data in account views.
func newFolders(cfg command.Config, keys pii.KeyGetter) (map[string]folder, error) {
	cfg.CacheSize = -1 // time travel keeps nothing
	out := map[string]folder{}
	add := func(name string, f folder) { out[name] = f }
	add(order.AggregateType, folderOf(command.OrderType(), cfg, plain(orderView)))
	add(order.SettlementAggregateType, folderOf(command.SettlementType(), cfg, plain(settlementView)))
	add(inventory.ProductAggregateType, folderOf(command.ProductType(), cfg, plain(productView)))
	add(inventory.ReservationAggregateType, folderOf(command.ReservationType(), cfg, plain(reservationView)))
	add(payment.AggregateType, folderOf(command.AccountType(), cfg, accountViewer(keys)))
	add(payment.OrderPaymentAggregateType, folderOf(command.OrderPaymentType(), cfg, plain(orderPaymentView)))
	return out, nil
}

// folderOf folds with a repository of typ (command.Repository.LoadAt) and views the result.
func folderOf[A command.Aggregate](typ command.AggregateType[A], cfg command.Config, view func(context.Context, A) any) folder {
	return func(ctx context.Context, store *eventstore.Store, id string, version int64) (any, int64, int64, error) {
		repo, err := command.NewRepository(store, typ, cfg)
		if err != nil {
			return nil, 0, 0, err
		}
		a, fold, err := repo.LoadAt(ctx, id, version)
		if err != nil {
			return nil, 0, 0, err
		}
		return view(ctx, a), fold.Snapshot, fold.Applied, nil
	}
}

// plain is a view that needs no context.
func plain[A any](view func(A) any) func(context.Context, A) any {
	return func(_ context.Context, a A) any { return view(a) }
}

// The views: what each aggregate's exported accessors report.

type orderState struct {
	ID           string             `json:"order_id"`
	CustomerID   string             `json:"customer_id"`
	Status       order.Status       `json:"status"`
	PlacedAt     time.Time          `json:"placed_at"`
	Lines        []order.Line       `json:"lines"`
	PricedLines  []order.PricedLine `json:"priced_lines,omitempty"`
	TotalCents   int64              `json:"total_cents"`
	Currency     string             `json:"currency,omitempty"`
	RejectReason order.Reason       `json:"reject_reason,omitempty"`
	CancelReason string             `json:"cancel_reason,omitempty"`
}

func orderView(o *order.Order) any {
	return orderState{ID: o.ID(), CustomerID: o.CustomerID(), Status: o.Status(), PlacedAt: o.PlacedAt(), Lines: o.Lines(),
		PricedLines: o.PricedLines(), TotalCents: o.TotalCents(), Currency: o.Currency(),
		RejectReason: o.RejectReason(), CancelReason: o.CancelReason()}
}

type settlementState struct {
	OrderID string                  `json:"order_id"`
	Priced  *order.SettlementPriced `json:"priced,omitempty"`
	Paid    *order.SettlementPaid   `json:"paid,omitempty"`
}

func settlementView(s *order.Settlement) any {
	v := settlementState{OrderID: s.ID()}
	if p, ok := s.Priced(); ok {
		v.Priced = &p
	}
	if p, ok := s.Paid(); ok {
		v.Paid = &p
	}
	return v
}

type productState struct {
	ID          string `json:"product_id"`
	SKU         string `json:"sku"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	PriceCents  int64  `json:"price_cents"`
	Currency    string `json:"currency"`
	Available   int64  `json:"available"`
	Reserved    int64  `json:"reserved"`
}

func productView(p *inventory.Product) any {
	return productState{ID: p.ID(), SKU: p.SKU(), Name: p.Name(), Description: p.Description(), PriceCents: p.PriceCents(),
		Currency: p.Currency(), Available: p.Available(), Reserved: p.Reserved()}
}

type reservationState struct {
	OrderID    string                      `json:"order_id"`
	Status     inventory.ReservationStatus `json:"status"`
	CustomerID string                      `json:"customer_id,omitempty"`
	Lines      []inventory.ReservedLine    `json:"lines,omitempty"`
	TotalCents int64                       `json:"total_cents"`
	Currency   string                      `json:"currency,omitempty"`
	Reason     inventory.Reason            `json:"failure_reason,omitempty"`
}

func reservationView(r *inventory.OrderReservation) any {
	return reservationState{OrderID: r.ID(), Status: r.Status(), CustomerID: r.CustomerID(), Lines: r.Lines(),
		TotalCents: r.TotalCents(), Currency: r.Currency(), Reason: r.FailureReason()}
}

type accountState struct {
	CustomerID string `json:"customer_id"`
	Name       string `json:"name"`
	Email      string `json:"email"`
	// Forgotten: the customer was forgotten; Name and Email are empty.
	Forgotten bool `json:"forgotten,omitempty"`
	// Sealed: the personal data could not be opened (no key store, or it failed); Name and
	// Email are left empty.
	Sealed       string `json:"sealed,omitempty"`
	BalanceCents int64  `json:"balance_cents"`
}

// accountViewer views an account with its personal data opened by keys (nil: clear data
// of accounts from before sealing only).
func accountViewer(keys pii.KeyGetter) func(context.Context, *payment.Account) any {
	return func(ctx context.Context, a *payment.Account) any {
		v := accountState{CustomerID: a.ID(), Forgotten: a.Forgotten(), BalanceCents: a.BalanceCents()}
		switch {
		case a.Forgotten():
		case keys == nil && (pii.IsSealed(a.Name()) || pii.IsSealed(a.Email())):
			v.Sealed = "no key store configured"
		case keys == nil:
			v.Name, v.Email = a.Name(), a.Email()
		default:
			p, err := pii.Reveal(ctx, keys, a.ID(), a.Name(), a.Email())
			if err != nil {
				v.Sealed = err.Error()
			}
			v.Name, v.Email, v.Forgotten = p.Name, p.Email, p.Forgotten
		}
		return v
	}
}

type orderPaymentState struct {
	OrderID    string          `json:"order_id"`
	CustomerID string          `json:"customer_id,omitempty"`
	Payment    payment.Payment `json:"payment"`
}

func orderPaymentView(p *payment.OrderPayment) any {
	return orderPaymentState{OrderID: p.ID(), CustomerID: p.CustomerID(), Payment: p.Payment()}
}
