package main

import (
	"errors"

	"github.com/shopflow/shopflow/api"
	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/command"
	"github.com/shopflow/shopflow/internal/pii"
)

// writeHandlers builds the command handlers of the hosted contexts, each on its own
// context's store (database per service); contexts not hosted are left nil. keys is the
// payments context's customer key store: personal data is always sealed.
func writeHandlers(stores map[string]*eventstore.Store, keys *pii.Store) (api.WriteHandlers, error) {
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
		pcfg := cfg
		if keys != nil {
			pcfg.Keys = keys
		}
		open, err1 := command.NewOpenAccountHandler(s, pcfg)
		deposit, err2 := command.NewDepositFundsHandler(s, pcfg)
		forget, err3 := command.NewForgetCustomerHandler(s, pcfg)
		keep(errors.Join(err1, err2, err3))
		h.Payments = &api.PaymentCommands{Keys: command.NewIdempotencyKeys(s), OpenAccount: open, DepositFunds: deposit,
			ForgetCustomer: forget}
	}
	if s := stores["orders"]; s != nil {
		place, err1 := command.NewPlaceOrderHandler(s, cfg)
		cancel, err2 := command.NewCancelOrderHandler(s, cfg)
		keep(errors.Join(err1, err2))
		h.Orders = &api.OrderCommands{Keys: command.NewIdempotencyKeys(s), PlaceOrder: place, CancelOrder: cancel}
	}
	return h, errors.Join(errs...)
}
