package sagas

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	c := Config{Brokers: []string{"b:9092"}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	d := c.withDefaults()
	if d.Deadline != DefaultDeadline || d.Backoff != DefaultBackoff || d.Concurrency != DefaultConcurrency ||
		d.Command.MaxAttempts != DefaultCommandAttempts || d.Log == nil || d.Metrics == nil {
		t.Errorf("defaults: %+v", d)
	}
	want := map[string]ContextConfig{
		Orders:    {"orders.events", "orders.dlt", "shopflow.sagas.orders"},
		Inventory: {"inventory.events", "inventory.dlt", "shopflow.sagas.inventory"},
		Payments:  {"payments.events", "payments.dlt", "shopflow.sagas.payments"},
	}
	for name, w := range want {
		if got := d.context(name); got != w {
			t.Errorf("%s: %+v, want %+v", name, got, w)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"no brokers", Config{}, []string{"Brokers"}},
		{"negative", Config{Brokers: []string{"b"}, Deadline: -1, Concurrency: -1}, []string{"Deadline", "Concurrency"}},
		{"backoff above max", Config{Brokers: []string{"b"}, Backoff: time.Minute}, []string{"exceeds MaxBackoff"}},
		{"shared topic", Config{Brokers: []string{"b"}, Payments: ContextConfig{EventsTopic: "orders.events"}},
			[]string{`topic "orders.events" is used twice`}},
		{"bad command config", Config{Brokers: []string{"b"}}, nil},
	}
	tests[4].cfg.Command.MaxAttempts = -1
	tests[4].want = []string{"MaxAttempts"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if err == nil {
				t.Fatal("Validate accepted an invalid config")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if _, err := newReactor(tt.cfg, Orders); err == nil {
				t.Error("newReactor accepted an invalid config")
			}
		})
	}
}

func TestNewReactorUnknownContext(t *testing.T) {
	if _, err := NewReactor("shipping", Config{Brokers: []string{"b"}}, nil, nil); !errors.Is(err, ErrUnknownContext) {
		t.Errorf("err = %v, want ErrUnknownContext", err)
	}
	if _, err := NewReactor(Inventory, Config{Brokers: []string{"b"}}, nil, nil); err == nil {
		t.Error("nil store accepted")
	}
}
