package pii

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Prefix starts every sealed value.
const Prefix = "pii1:"

// KeySize is the size of a customer key in bytes (AES-256).
const KeySize = 32

// Personal fields of a customer, bound into their sealed values.
const (
	FieldName  = "name"
	FieldEmail = "email"
)

// ErrTampered: a sealed value does not open with the key it was given — it was changed,
// belongs to another customer or field, or was sealed under another key.
var ErrTampered = errors.New("pii: sealed value does not open")

// NewKey returns a new random customer key.
func NewKey() ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("pii: new key: %w", err)
	}
	return key, nil
}

// IsSealed reports whether s is a sealed value (rather than the clear text of an event
// written before personal data was sealed).
func IsSealed(s string) bool { return strings.HasPrefix(s, Prefix) }

// Seal encrypts plaintext, the field of customer customerID, under key (KeySize bytes).
func Seal(key []byte, customerID, field, plaintext string) (string, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("pii: nonce: %w", err)
	}
	out := aead.Seal(nonce, nonce, []byte(plaintext), additionalData(customerID, field))
	return Prefix + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts a value Seal returned for the same customer and field under key. It
// returns an error wrapping ErrTampered if the value does not open.
func Open(key []byte, customerID, field, sealed string) (string, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return "", err
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(sealed, Prefix))
	if !IsSealed(sealed) || err != nil || len(raw) < aead.NonceSize() {
		return "", fmt.Errorf("%w: %s of customer %s is not a sealed value", ErrTampered, field, customerID)
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, raw[:n], raw[n:], additionalData(customerID, field))
	if err != nil {
		return "", fmt.Errorf("%w: %s of customer %s", ErrTampered, field, customerID)
	}
	return string(plain), nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("pii: key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("pii: gcm: %w", err)
	}
	return aead, nil
}

// additionalData binds a sealed value to its customer and field. The NUL cannot occur in
// a customer id (a UUID), so no two (id, field) pairs give the same bytes.
func additionalData(customerID, field string) []byte {
	return []byte(customerID + "\x00" + field)
}
