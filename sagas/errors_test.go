package sagas

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/eventstore"
)

func TestIsPermanent(t *testing.T) {
	var v domain.ValidationError
	v.Add("lines", "bad")
	tests := []struct {
		err  error
		want bool
	}{
		{permanentf("x"), true},
		{fmt.Errorf("decode: %w", eventstore.ErrUndecodable), true},
		{fmt.Errorf("load: %w", domain.ErrInvalidHistory), true},
		{fmt.Errorf("load: %w", domain.ErrUnknownEventType), true},
		{fmt.Errorf("write: %w", eventstore.ErrInvalidWrite), true},
		{v.Err(), true},
		{fmt.Errorf("after 10 attempts: %w", eventstore.ErrVersionConflict), false},
		{errors.New("connection refused"), false},
		{context.Canceled, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := IsPermanent(tt.err); got != tt.want {
			t.Errorf("IsPermanent(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	if permanent(nil) != nil {
		t.Error("permanent(nil) != nil")
	}
}
