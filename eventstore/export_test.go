package eventstore

// CheckHeadSQL exposes the head check to the external tests, which run it inside a
// transaction they control.
const CheckHeadSQL = checkHeadSQL

// MigrateTo lets tests start from an older schema, to test a migration over existing data.
func MigrateTo(databaseURL string, version uint) error { return migrateTo(databaseURL, version) }

// RelayPendingSQL exposes the relay's pending check, whose plans a test inspects.
const RelayPendingSQL = relayPendingSQL
