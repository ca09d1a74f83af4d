package payment

import (
	"encoding/json"
	"fmt"

	"github.com/shopflow/shopflow/domain"
)

// AccountSnapshotVersion is the schema version of the state [Account.Snapshot] encodes.
// Raise it whenever that encoding or its meaning changes: a snapshot of another version is
// ignored and the account is rebuilt from its events, which are the truth.
const AccountSnapshotVersion = 1

// accountState is the snapshot form of an account's state.
type accountState struct {
	Name         string `json:"name"`
	Email        string `json:"email"`
	BalanceCents int64  `json:"balance_cents"`
	Moved        bool   `json:"payment_records_moved"`
	Forgotten    bool   `json:"forgotten,omitempty"`
	// Legacy is what the account remembers per order from before PaymentRecordsMoved.
	Legacy map[string]Payment `json:"legacy_payments,omitempty"`
}

// Snapshot encodes the account's state (schema [AccountSnapshotVersion]) for [Restore].
// The account must have no uncommitted changes: a snapshot describes a stored version of
// the stream.
func (a *Account) Snapshot() ([]byte, error) {
	if len(a.root.Changes()) > 0 {
		return nil, fmt.Errorf("account %s: snapshot with uncommitted changes", a.ID())
	}
	return json.Marshal(accountState{Name: a.name, Email: a.email, BalanceCents: a.balance, Moved: a.moved,
		Forgotten: a.forgotten, Legacy: a.legacy})
}

// Restore rebuilds account id at stream version version from a state that
// [Account.Snapshot] encoded (schema [AccountSnapshotVersion]); [Account.Advance] then
// applies the events after it. It returns an error wrapping domain.ErrInvalidHistory if
// the state does not decode or version is not positive.
func Restore(id string, version int64, state []byte) (*Account, error) {
	var s accountState
	if err := json.Unmarshal(state, &s); err != nil || id == "" || version < 1 {
		return nil, fmt.Errorf("restore account %q at version %d: %w (%v)", id, version, domain.ErrInvalidHistory, err)
	}
	a := &Account{name: s.Name, email: s.Email, forgotten: s.Forgotten, balance: s.BalanceCents, moved: s.Moved, legacy: s.Legacy}
	a.root.Restore(id, version)
	return a, nil
}
