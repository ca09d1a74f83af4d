package securelink

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
)

// ErrCredentialsRefused marks (wrapped) a server's refusal of the credentials Shopflow
// presented: a wrong user name, password or API key.
var ErrCredentialsRefused = errors.New("the server refused the credentials")

// ErrUntrustedCertificate marks (wrapped) a TLS handshake that failed on the server's
// certificate, or on the server's refusal of the client's.
var ErrUntrustedCertificate = errors.New("the TLS handshake failed")

// Explain wraps err, a failure of the link to a server, with its cause in words when it is
// a TLS failure: the cause first, then hint (the settings to check, e.g. "check
// SHOPFLOW_KAFKA_TLS_CA_FILE"), then err. The result wraps ErrUntrustedCertificate and err.
// Any other error is returned unchanged.
func Explain(err error, hint string) error {
	cause := tlsCause(err)
	if cause == "" {
		return err
	}
	return fmt.Errorf("%w: %s (%s): %w", ErrUntrustedCertificate, cause, hint, err)
}

// Refused wraps err, the server's answer to bad credentials, with ErrCredentialsRefused and
// hint (the settings to check).
func Refused(err error, hint string) error {
	return fmt.Errorf("%w (%s): %w", ErrCredentialsRefused, hint, err)
}

// tlsCause names the kind of TLS failure err holds, "" when it holds none.
func tlsCause(err error) string {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
		op       *net.OpError
		verify   *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &unknown):
		return "the server's certificate is not signed by a trusted certificate authority"
	case errors.As(err, &hostname):
		return "the server's certificate is not valid for the name connected to (" + hostname.Host + ")"
	case errors.As(err, &invalid):
		return "the server's certificate is not valid (expired, not yet valid, or not for a server)"
	case errors.As(err, &verify):
		return "the server's certificate could not be verified"
	case errors.As(err, &record):
		return "the server does not speak TLS on this port"
	case errors.As(err, &op) && op.Op == "remote error": // a TLS alert the server sent
		return "the server ended the TLS handshake (" + op.Err.Error() + "): does it want a client certificate?"
	}
	return ""
}
