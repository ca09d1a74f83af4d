package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/shopflow/shopflow/internal/securelink"
)

// SASL mechanisms Security accepts: SCRAM only, franz-go's sasl/scram. PLAIN would send the
// password itself; SCRAM proves it without sending it.
const (
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// Security is how every client reaches the brokers: TLS (the broker's certificate verified)
// and SASL/SCRAM authentication, the SASL_SSL listener of a secured cluster. The zero value
// is a plaintext, unauthenticated link (the local development broker).
type Security struct {
	// TLS turns TLS on; any TLSFiles setting implies it.
	TLS bool
	// TLSFiles are the CA file, client key pair and server name of the TLS link.
	TLSFiles securelink.TLS
	// SASLMechanism is ScramSHA256 or ScramSHA512; empty: no authentication.
	SASLMechanism string
	// Username and Password are the SCRAM credentials; PasswordFile, if set, holds the
	// password instead (read when the options are built).
	Username, Password, PasswordFile string
}

// Opts returns the client options of the link: kgo.DialTLSConfig and kgo.SASL as set. It
// reads the files each time (a client built after a rotation uses the new ones).
func (s Security) Opts() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if s.TLS || s.TLSFiles.Set() {
		cfg, err := s.TLSFiles.Config()
		if err != nil {
			return nil, fmt.Errorf("kafka: TLS: %w", err)
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if s.SASLMechanism == "" {
		return opts, nil
	}
	m, err := s.mechanism()
	if err != nil {
		return nil, err
	}
	return append(opts, kgo.SASL(m)), nil
}

// mechanism returns the SCRAM mechanism with the credentials.
func (s Security) mechanism() (sasl.Mechanism, error) {
	pass, err := securelink.Secret("SHOPFLOW_KAFKA_SASL_PASSWORD", s.Password, s.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("kafka: SASL: %w", err)
	}
	if s.Username == "" || pass == "" {
		return nil, errors.New("kafka: SASL: a user name and a password are required")
	}
	auth := scram.Auth{User: s.Username, Pass: pass}
	switch strings.ToUpper(s.SASLMechanism) {
	case ScramSHA256:
		return auth.AsSha256Mechanism(), nil
	case ScramSHA512:
		return auth.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("kafka: SASL mechanism %q: want %s or %s", s.SASLMechanism, ScramSHA256, ScramSHA512)
}

// Check asks the brokers for their list, as Ping does, and explains a failure of the link:
// credentials the brokers refused (securelink.ErrCredentialsRefused), a certificate that is
// not trusted (securelink.ErrUntrustedCertificate), with the variables to check. Give ctx
// a deadline: the client retries a broker it cannot reach until ctx ends.
func Check(ctx context.Context, cl *kgo.Client, brokers []string) error {
	err := Ping(ctx, cl)
	if err == nil {
		return nil
	}
	at := strings.Join(brokers, ",")
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.IllegalSaslState),
		errors.Is(err, kerr.UnsupportedSaslMechanism):
		return fmt.Errorf("kafka at %s: %w", at, securelink.Refused(err,
			"check SHOPFLOW_KAFKA_SASL_MECHANISM, SHOPFLOW_KAFKA_SASL_USERNAME and SHOPFLOW_KAFKA_SASL_PASSWORD(_FILE)"))
	}
	explained := securelink.Explain(err, "check SHOPFLOW_KAFKA_TLS_CA_FILE and SHOPFLOW_KAFKA_TLS_SERVER_NAME, "+
		"and that SHOPFLOW_KAFKA_BROKERS names the broker's TLS listener")
	if errors.Is(explained, securelink.ErrUntrustedCertificate) {
		return fmt.Errorf("kafka at %s: %w", at, explained)
	}
	return fmt.Errorf("kafka at %s: %w", at, err)
}
