package pii_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/shopflow/shopflow/eventstore"
	"github.com/shopflow/shopflow/internal/pii"
	"github.com/shopflow/shopflow/internal/postgres"
	"github.com/shopflow/shopflow/internal/testenv"
)

// keyStore returns a Store on a fresh, migrated database of the real Postgres.
func keyStore(t *testing.T) *pii.Store {
	t.Helper()
	url := testenv.Database(t)
	if err := eventstore.Migrate(url); err != nil {
		t.Fatal(err)
	}
	pool, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pii.NewStore(pool)
}

func TestStoreCreatesGetsAndDestroysKeys(t *testing.T) {
	ctx := context.Background()
	keys := keyStore(t)
	const id = "0190f000-0000-7000-8000-00000000000a"
	if _, err := keys.Get(ctx, id); !errors.Is(err, pii.ErrNoKey) {
		t.Fatalf("Get before Create: %v, want ErrNoKey", err)
	}
	k1, err := keys.Create(ctx, id)
	if err != nil || len(k1) != pii.KeySize {
		t.Fatalf("Create = %d bytes, %v", len(k1), err)
	}
	k2, err := keys.Create(ctx, id)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("second Create returned another key (%v): keys are never replaced", err)
	}
	if got, err := keys.Get(ctx, id); err != nil || !bytes.Equal(got, k1) {
		t.Fatalf("Get = %x, %v; want the created key", got, err)
	}
	for range 2 { // destroying twice is fine
		if err := keys.Destroy(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := keys.Get(ctx, id); !errors.Is(err, pii.ErrForgotten) {
		t.Fatalf("Get after Destroy: %v, want ErrForgotten", err)
	}
	if _, err := keys.Create(ctx, id); !errors.Is(err, pii.ErrForgotten) {
		t.Fatalf("Create after Destroy: %v, want ErrForgotten (a forgotten customer gets no new key)", err)
	}
}

func TestRevealTellsClearSealedAndForgottenApart(t *testing.T) {
	ctx := context.Background()
	keys := keyStore(t)
	const sealedID, legacyID = "0190f000-0000-7000-8000-00000000000b", "0190f000-0000-7000-8000-00000000000c"
	key, err := keys.Create(ctx, sealedID)
	if err != nil {
		t.Fatal(err)
	}
	name, _ := pii.Seal(key, sealedID, pii.FieldName, "Ada")
	email, _ := pii.Seal(key, sealedID, pii.FieldEmail, "ada@example.com")
	if p, err := pii.Reveal(ctx, keys, sealedID, name, email); err != nil || p != (pii.Profile{Name: "Ada", Email: "ada@example.com"}) {
		t.Fatalf("Reveal sealed = %+v, %v", p, err)
	}
	if p, err := pii.Reveal(ctx, keys, legacyID, "Bo", "bo@example.com"); err != nil || p != (pii.Profile{Name: "Bo", Email: "bo@example.com"}) {
		t.Fatalf("Reveal clear = %+v, %v", p, err)
	}
	if _, err := pii.Reveal(ctx, keys, legacyID, name, email); err == nil {
		t.Fatal("Reveal of sealed values of a customer without a key succeeded")
	}
	for _, id := range []string{sealedID, legacyID} {
		if err := keys.Destroy(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if p, err := pii.Reveal(ctx, keys, sealedID, name, email); err != nil || p != (pii.Profile{Forgotten: true}) {
		t.Fatalf("Reveal after forget = %+v, %v; want forgotten", p, err)
	}
	if p, err := pii.Reveal(ctx, keys, legacyID, "Bo", "bo@example.com"); err != nil || p != (pii.Profile{Forgotten: true}) {
		t.Fatalf("Reveal of clear data after forget = %+v, %v; want forgotten", p, err)
	}
}
