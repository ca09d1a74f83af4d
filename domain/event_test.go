package domain

import (
	"errors"
	"math"
	"reflect"
	"slices"
	"testing"
)

type testEvent struct {
	ID    string  `json:"id"`
	Count int     `json:"count"`
	Ratio float64 `json:"ratio,omitempty"`
}

func (testEvent) EventType() string { return "TestHappened" }

type otherEvent struct{}

func (otherEvent) EventType() string { return "OtherHappened" }

func TestRegistryDecodesValues(t *testing.T) {
	r := NewRegistry()
	RegisterEvent[testEvent](r)
	RegisterEvent[otherEvent](r)
	e, err := r.Decode("TestHappened", []byte(`{"id":"a","count":2,"added_later":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := (testEvent{ID: "a", Count: 2}); !reflect.DeepEqual(e, want) {
		t.Errorf("Decode = %#v, want %#v", e, want)
	}
	if got := r.Types(); !slices.Equal(got, []string{"OtherHappened", "TestHappened"}) {
		t.Errorf("Types = %v", got)
	}
	if !r.Has("TestHappened") || r.Has("Nope") {
		t.Error("Has is wrong")
	}
}

func TestRegistryDecodeErrors(t *testing.T) {
	r := NewRegistry()
	RegisterEvent[testEvent](r)
	if _, err := r.Decode("Nope", []byte(`{}`)); !errors.Is(err, ErrUnknownEventType) {
		t.Errorf("unknown type: err = %v", err)
	}
	if _, err := r.Decode("TestHappened", []byte(`{"count":"two"}`)); err == nil || errors.Is(err, ErrUnknownEventType) {
		t.Errorf("bad payload: err = %v", err)
	}
}

func TestRegistryRegisterPanics(t *testing.T) {
	decode := func([]byte) (Event, error) { return testEvent{}, nil }
	tests := map[string]func(*Registry){
		"duplicate":   func(r *Registry) { RegisterEvent[testEvent](r); r.Register("TestHappened", decode) },
		"empty name":  func(r *Registry) { r.Register("", decode) },
		"nil decoder": func(r *Registry) { r.Register("X", nil) },
	}
	for name, register := range tests {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			register(NewRegistry())
		})
	}
}

func TestEncode(t *testing.T) {
	name, payload, err := Encode(testEvent{ID: "a", Count: 1})
	if err != nil || name != "TestHappened" || string(payload) != `{"id":"a","count":1}` {
		t.Errorf("Encode = %q %s %v", name, payload, err)
	}
	if _, _, err := Encode(testEvent{Ratio: math.NaN()}); err == nil {
		t.Error("Encode of an unencodable event succeeded")
	}
}
