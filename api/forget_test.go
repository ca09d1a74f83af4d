package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/shopflow/shopflow/internal/auth"
	"github.com/shopflow/shopflow/internal/pii"
)

// POST /v1/customers/{id}/forget: admin or the customer's own token; destroys the key the
// account's personal data was sealed under, appends CustomerForgotten once (forgetting again
// answers the same version), frees the email, and answers problem+json to bad input.
func TestForgetCustomer(t *testing.T) {
	w := newWriteAPI(t)
	email := strings.ToLower(t.Name()) + "-" + uuid.NewString()[:8] + "@example.com"
	created := wantResult(t, w.post("/v1/customers", `{"name":"Ada","email":"`+email+`"}`), http.StatusCreated)
	id := created.ID
	var payload string
	if err := w.payments.pool.QueryRow(ctx(t), `SELECT payload::text FROM events WHERE stream_id = $1 AND version = 1`, "account-"+id).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(payload, email) || strings.Contains(payload, "Ada") || !strings.Contains(payload, pii.Prefix) {
		t.Fatalf("AccountOpened stored as %s: want name and email sealed", payload)
	}
	admin := "Bearer " + tokenFor(auth.TokenSpec{Subject: "admin", Scopes: []string{auth.ScopeAdmin}})
	cases := []struct {
		name, id, body, auth string
		status               int
		field                string
	}{
		{"staff without admin", id, "", "", http.StatusForbidden, ""},
		{"another customer", id, "", "Bearer " + customerToken(uuid.NewString()), http.StatusNotFound, ""},
		{"not a uuid", "nope", "", admin, http.StatusBadRequest, "path.id"},
		{"a body with a field", id, `{"why":"gdpr"}`, admin, http.StatusBadRequest, "why"},
		{"unknown customer", uuid.NewString(), "", admin, http.StatusNotFound, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := w.post("/v1/customers/"+c.id+"/forget", c.body, "Authorization", c.auth)
			if rec.Code != c.status || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/problem+json") {
				t.Fatalf("%d %s %s, want %d problem+json", rec.Code, rec.Header().Get("Content-Type"), rec.Body, c.status)
			}
			if c.field != "" && !strings.Contains(rec.Body.String(), `"field":"`+c.field+`"`) {
				t.Fatalf("problem %s does not name %s", rec.Body, c.field)
			}
		})
	}
	own := wantResult(t, w.post("/v1/customers/"+id+"/forget", "", "Authorization", "Bearer "+customerToken(id)), http.StatusOK)
	again := wantResult(t, w.post("/v1/customers/"+id+"/forget", "{}", "Authorization", admin), http.StatusOK)
	if own.ID != id || own.Version != created.Version+1 || again.Version != own.Version {
		t.Fatalf("forget answered %+v then %+v; want version %d twice", own, again, created.Version+1)
	}
	var forgotten int
	if err := w.payments.pool.QueryRow(ctx(t), `SELECT count(*) FROM events WHERE stream_id = $1 AND event_type = 'CustomerForgotten'`, "account-"+id).Scan(&forgotten); err != nil || forgotten != 1 {
		t.Fatalf("CustomerForgotten events: %d (%v), want 1", forgotten, err)
	}
	if _, err := pii.NewStore(w.payments.pool).Get(context.Background(), id); !errors.Is(err, pii.ErrForgotten) {
		t.Fatalf("key after forget: %v, want ErrForgotten", err)
	}
	// The account works on: deposits (ids and amounts) still succeed.
	wantResult(t, w.post("/v1/customers/"+id+"/deposits", `{"amount_cents":100}`), http.StatusOK)
	// The email is free again.
	rec := w.post("/v1/customers", `{"name":"Ada","email":"`+email+`"}`)
	var body json.RawMessage = rec.Body.Bytes()
	if rec.Code != http.StatusCreated {
		t.Fatalf("registering the forgotten customer's email again: %d %s", rec.Code, body)
	}
}
