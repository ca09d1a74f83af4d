package domain

import "testing"

func TestIsCurrency(t *testing.T) {
	tests := map[string]bool{
		"EUR": true, "USD": true, "JPY": true,
		"": false, "EU": false, "EURO": false, "eur": false, "EUr": false, "E1R": false, "ÉUR": false, "@UR": false, "EU[": false,
	}
	for code, want := range tests {
		if got := IsCurrency(code); got != want {
			t.Errorf("IsCurrency(%q) = %v, want %v", code, got, want)
		}
	}
}

func TestLimitsKeepTotalsInInt64(t *testing.T) {
	const maxInt64 = 1<<63 - 1
	if MaxPriceCents > maxInt64/MaxLineQuantity/MaxOrderLines {
		t.Errorf("MaxOrderLines × MaxLineQuantity × MaxPriceCents overflows int64")
	}
}
