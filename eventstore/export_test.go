package eventstore

// CheckHeadSQL exposes the head check to the external tests, which run it inside a
// transaction they control.
const CheckHeadSQL = checkHeadSQL
