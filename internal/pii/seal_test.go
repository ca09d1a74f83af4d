package pii_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/shopflow/shopflow/internal/pii"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	key, err := pii.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestSealOpensForItsCustomerAndFieldOnly(t *testing.T) {
	key := newKey(t)
	const alice, bob = "0190f000-0000-7000-8000-000000000001", "0190f000-0000-7000-8000-000000000002"
	sealed, err := pii.Seal(key, alice, pii.FieldEmail, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !pii.IsSealed(sealed) || strings.Contains(sealed, "alice") {
		t.Fatalf("sealed value %q is not sealed or shows the clear text", sealed)
	}
	got, err := pii.Open(key, alice, pii.FieldEmail, sealed)
	if err != nil || got != "alice@example.com" {
		t.Fatalf("Open = %q, %v; want the email", got, err)
	}
	cases := map[string]func() (string, error){
		"other customer": func() (string, error) { return pii.Open(key, bob, pii.FieldEmail, sealed) },
		"other field":    func() (string, error) { return pii.Open(key, alice, pii.FieldName, sealed) },
		"other key":      func() (string, error) { return pii.Open(newKey(t), alice, pii.FieldEmail, sealed) },
		"changed byte":   func() (string, error) { return pii.Open(key, alice, pii.FieldEmail, flip(sealed)) },
		"not sealed":     func() (string, error) { return pii.Open(key, alice, pii.FieldEmail, "alice@example.com") },
		"truncated":      func() (string, error) { return pii.Open(key, alice, pii.FieldEmail, pii.Prefix+"AAAA") },
	}
	for name, open := range cases {
		t.Run(name, func(t *testing.T) {
			if got, err := open(); !errors.Is(err, pii.ErrTampered) {
				t.Fatalf("Open = %q, %v; want ErrTampered", got, err)
			}
		})
	}
}

func TestSealUsesAFreshNonceEachTime(t *testing.T) {
	key := newKey(t)
	a, err1 := pii.Seal(key, "c", pii.FieldName, "Ada")
	b, err2 := pii.Seal(key, "c", pii.FieldName, "Ada")
	if err1 != nil || err2 != nil || a == b {
		t.Fatalf("two seals of one value: %q, %q (%v, %v); want different ciphertexts", a, b, err1, err2)
	}
}

// flip changes one character of the encoded ciphertext (past the prefix and nonce).
func flip(s string) string {
	b := []byte(s)
	i := len(b) - 3
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}
