package main

import (
	"errors"

	"github.com/shopflow/shopflow/api"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/command"
)

// writeHandlers builds the command handlers of the hosted contexts, each on its own
// context's store (database per service); contexts not hosted are left nil.
func writeHandlers(stores map[string]*eventstore.Store) (api.WriteHandlers, error) {
	var h api.WriteHandlers
	var cfg command.Config
	var errs []error
	keep := func(err error) { errs = append(errs, err) }
	if s := stores["inventory"]; s != nil {
		reg, err1 := command.NewRegisterProductHandler(s, cfg)
		restock, err2 := command.NewRestockProductHandler(s, cfg)
		keep(errors.Join(err1, err2))
		h.Inventory = &api.InventoryCommands{Keys: command.NewIdempotencyKeys(s), RegisterProduct: reg, RestockProduct: restock}
	}
	if s := stores["payments"]; s != nil {
		open, err1 := command.NewOpenAccountHandler(s, cfg)
		deposit, err2 := command.NewDepositFundsHandler(s, cfg)
		keep(errors.Join(err1, err2))
		h.Payments = &api.PaymentCommands{Keys: command.NewIdempotencyKeys(s), OpenAccount: open, DepositFunds: deposit}
	}
	if s := stores["orders"]; s != nil {
		place, err1 := command.NewPlaceOrderHandler(s, cfg)
		cancel, err2 := command.NewCancelOrderHandler(s, cfg)
		keep(errors.Join(err1, err2))
		h.Orders = &api.OrderCommands{Keys: command.NewIdempotencyKeys(s), PlaceOrder: place, CancelOrder: cancel}
	}
	return h, errors.Join(errs...)
}
