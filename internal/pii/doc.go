// Package pii keeps customers' personal data (name, email) unreadable without the
// customer's own key, so that destroying the key forgets the customer everywhere the data
// was copied — the immutable events in Postgres, the Kafka topics kept forever, dead
// letters, snapshots — without rewriting any of them (crypto-shredding).
//
// # Sealing
//
// [Seal] encrypts one field of one customer with AES-256-GCM (the standard library's
// crypto/aes and crypto/cipher: an authenticated cipher whose implementation uses the
// CPU's AES and carry-less multiplication instructions, nothing to add as a dependency).
// The additional authenticated data is the customer id and the field name, so a sealed
// value copied into another customer's event, or from the name into the email, does not
// open. A sealed value is text: [Prefix] then the base64url (unpadded) nonce and
// ciphertext; [IsSealed] tells it from the clear values of events written before
// sealing.
//
// # Keys
//
// Keys belong to the payments context, which owns customers, and live in its database in
// table customer_keys (migration 0006 of the event store), reached only through [Keys]:
// create, get, destroy. [Store] is its Postgres implementation. A destroyed key leaves a
// row without key bytes behind, so that a reader tells "forgotten" ([ErrForgotten]) from
// "never had a key" ([ErrNoKey]). Nothing in the order saga needs a key: payments and
// orders work on ids and amounts.
package pii
