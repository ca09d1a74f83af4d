package domain

// Money is an amount: integer minor units (int64 cents) of an ISO 4217 currency. Events
// carry an order's total as one (since schema version 2 of OrderStockReserved,
// OrderSettlementPriced and OrderConfirmed); older events and prices carry the two as
// separate fields (*_cents and currency).
type Money struct {
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
}

// The limits below are shared by the contexts so that each accepts what
// another produced, and together they keep every order total far from int64
// overflow: MaxOrderLines × MaxLineQuantity × MaxPriceCents = 10^18 < 2^63.
const (
	// MaxPriceCents is the largest unit price (100 million major units).
	MaxPriceCents int64 = 10_000_000_000
	// MaxOrderLines is the largest number of lines in one order.
	MaxOrderLines = 100
	// MaxLineQuantity is the largest quantity of one order line.
	MaxLineQuantity int64 = 1_000_000
)

// IsCurrency reports whether code looks like an ISO 4217 alphabetic code:
// exactly three ASCII upper-case letters. It does not check the code is
// assigned.
func IsCurrency(code string) bool {
	if len(code) != 3 {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < 'A' || code[i] > 'Z' {
			return false
		}
	}
	return true
}
