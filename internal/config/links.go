package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/shopflow/shopflow/internal/elastic"
	"github.com/shopflow/shopflow/internal/kafka"
	"github.com/shopflow/shopflow/internal/securelink"
)

// Kafka secures the links to the brokers (see kafka.Security): TLS and SASL/SCRAM, the
// SASL_SSL listener of a secured cluster. Its fields are part of Config; the defaults are
// the local development broker's plaintext link.
type Kafka struct {
	// TLS turns TLS on (verified against the system's roots unless TLSCAFile is set);
	// setting TLSCAFile, TLSCertFile or TLSServerName implies it.
	TLS           bool   `env:"SHOPFLOW_KAFKA_TLS" envDefault:"false"`
	TLSCAFile     string `env:"SHOPFLOW_KAFKA_TLS_CA_FILE"`
	TLSCertFile   string `env:"SHOPFLOW_KAFKA_TLS_CERT_FILE"`
	TLSKeyFile    string `env:"SHOPFLOW_KAFKA_TLS_KEY_FILE"`
	TLSServerName string `env:"SHOPFLOW_KAFKA_TLS_SERVER_NAME"`
	// SASLMechanism is SCRAM-SHA-256 or SCRAM-SHA-512; empty: no authentication.
	SASLMechanism    string `env:"SHOPFLOW_KAFKA_SASL_MECHANISM"`
	SASLUsername     string `env:"SHOPFLOW_KAFKA_SASL_USERNAME"`
	SASLPassword     string `env:"SHOPFLOW_KAFKA_SASL_PASSWORD"`
	SASLPasswordFile string `env:"SHOPFLOW_KAFKA_SASL_PASSWORD_FILE"`
}

// Security returns the clients' link settings.
func (k Kafka) Security() kafka.Security {
	return kafka.Security{TLS: k.TLS,
		TLSFiles:      securelink.TLS{CAFile: k.TLSCAFile, CertFile: k.TLSCertFile, KeyFile: k.TLSKeyFile, ServerName: k.TLSServerName},
		SASLMechanism: k.SASLMechanism, Username: k.SASLUsername, Password: k.SASLPassword, PasswordFile: k.SASLPasswordFile}
}

// validate checks the settings and that the files they name can be read.
func (k Kafka) validate() []error {
	errs := readable(map[string]string{"SHOPFLOW_KAFKA_TLS_CA_FILE": k.TLSCAFile, "SHOPFLOW_KAFKA_TLS_CERT_FILE": k.TLSCertFile,
		"SHOPFLOW_KAFKA_TLS_KEY_FILE": k.TLSKeyFile, "SHOPFLOW_KAFKA_SASL_PASSWORD_FILE": k.SASLPasswordFile})
	if (k.TLSCertFile == "") != (k.TLSKeyFile == "") {
		errs = append(errs, errors.New("SHOPFLOW_KAFKA_TLS_CERT_FILE, SHOPFLOW_KAFKA_TLS_KEY_FILE: set both or neither"))
	}
	if k.SASLMechanism == "" {
		if k.SASLUsername != "" || k.SASLPassword != "" || k.SASLPasswordFile != "" {
			errs = append(errs, errors.New("SHOPFLOW_KAFKA_SASL_MECHANISM: required with SASL credentials (SCRAM-SHA-256 or SCRAM-SHA-512)"))
		}
		return errs
	}
	if !slices.Contains([]string{kafka.ScramSHA256, kafka.ScramSHA512}, strings.ToUpper(k.SASLMechanism)) {
		errs = append(errs, fmt.Errorf("SHOPFLOW_KAFKA_SASL_MECHANISM: want %s or %s, got %q", kafka.ScramSHA256, kafka.ScramSHA512, k.SASLMechanism))
	}
	if k.SASLUsername == "" {
		errs = append(errs, errors.New("SHOPFLOW_KAFKA_SASL_USERNAME: required with SHOPFLOW_KAFKA_SASL_MECHANISM"))
	}
	switch {
	case k.SASLPassword != "" && k.SASLPasswordFile != "":
		errs = append(errs, errors.New("SHOPFLOW_KAFKA_SASL_PASSWORD, SHOPFLOW_KAFKA_SASL_PASSWORD_FILE: set one, not both"))
	case k.SASLPassword == "" && k.SASLPasswordFile == "":
		errs = append(errs, errors.New("SHOPFLOW_KAFKA_SASL_PASSWORD or SHOPFLOW_KAFKA_SASL_PASSWORD_FILE: required with SHOPFLOW_KAFKA_SASL_MECHANISM"))
	}
	return errs
}

// Elasticsearch secures the links to the nodes (see elastic.Security): an API key or basic
// auth, and the CA file https nodes are verified with. Its fields are part of Config; the
// defaults send no credentials (the local development node).
type Elasticsearch struct {
	// APIKey is the "encoded" value of Elasticsearch's create-API-key answer.
	APIKey     string `env:"SHOPFLOW_ES_API_KEY"`
	APIKeyFile string `env:"SHOPFLOW_ES_API_KEY_FILE"`
	// Username and Password are basic-auth credentials (not with an API key).
	Username     string `env:"SHOPFLOW_ES_USERNAME"`
	Password     string `env:"SHOPFLOW_ES_PASSWORD"`
	PasswordFile string `env:"SHOPFLOW_ES_PASSWORD_FILE"`
	// CAFile verifies https nodes in place of the system's roots; CertFile and KeyFile are a
	// client certificate; ServerName replaces the host name the certificate must hold.
	CAFile     string `env:"SHOPFLOW_ES_CA_FILE"`
	CertFile   string `env:"SHOPFLOW_ES_CERT_FILE"`
	KeyFile    string `env:"SHOPFLOW_ES_KEY_FILE"`
	ServerName string `env:"SHOPFLOW_ES_TLS_SERVER_NAME"`
}

// Security returns the clients' link settings.
func (e Elasticsearch) Security() elastic.Security {
	return elastic.Security{APIKey: e.APIKey, APIKeyFile: e.APIKeyFile, Username: e.Username, Password: e.Password,
		PasswordFile: e.PasswordFile, TLS: securelink.TLS{CAFile: e.CAFile, CertFile: e.CertFile, KeyFile: e.KeyFile, ServerName: e.ServerName}}
}

// validate checks the settings and that the files they name can be read.
func (e Elasticsearch) validate() []error {
	errs := readable(map[string]string{"SHOPFLOW_ES_API_KEY_FILE": e.APIKeyFile, "SHOPFLOW_ES_PASSWORD_FILE": e.PasswordFile,
		"SHOPFLOW_ES_CA_FILE": e.CAFile, "SHOPFLOW_ES_CERT_FILE": e.CertFile, "SHOPFLOW_ES_KEY_FILE": e.KeyFile})
	apiKey := e.APIKey != "" || e.APIKeyFile != ""
	password := e.Password != "" || e.PasswordFile != ""
	switch {
	case e.APIKey != "" && e.APIKeyFile != "":
		errs = append(errs, errors.New("SHOPFLOW_ES_API_KEY, SHOPFLOW_ES_API_KEY_FILE: set one, not both"))
	case e.Password != "" && e.PasswordFile != "":
		errs = append(errs, errors.New("SHOPFLOW_ES_PASSWORD, SHOPFLOW_ES_PASSWORD_FILE: set one, not both"))
	case apiKey && (e.Username != "" || password):
		errs = append(errs, errors.New("SHOPFLOW_ES_API_KEY and SHOPFLOW_ES_USERNAME/SHOPFLOW_ES_PASSWORD: choose one way to authenticate"))
	case (e.Username != "") != password:
		errs = append(errs, errors.New("SHOPFLOW_ES_USERNAME, SHOPFLOW_ES_PASSWORD(_FILE): set both for basic auth"))
	}
	if (e.CertFile == "") != (e.KeyFile == "") {
		errs = append(errs, errors.New("SHOPFLOW_ES_CERT_FILE, SHOPFLOW_ES_KEY_FILE: set both or neither"))
	}
	return errs
}

// sslModes are libpq's (and pgconn's) values of sslmode; only verify-full checks both the
// certificate's chain and its name.
var sslModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// validateDatabaseLink checks the security parameters of a database URL: a known sslmode,
// and readable files for sslrootcert, sslcert, sslkey and passfile. name is its variable.
func validateDatabaseLink(name string, u *url.URL) []error {
	q := u.Query()
	var errs []error
	if m := q.Get("sslmode"); m != "" && !slices.Contains(sslModes, m) {
		errs = append(errs, fmt.Errorf("%s: sslmode=%s: want one of %v (verify-full to check the server's certificate and name)", name, m, sslModes))
	}
	files := map[string]string{}
	for _, p := range []string{"sslrootcert", "sslcert", "sslkey", "passfile"} {
		if v := q.Get(p); v != "" && !(p == "sslrootcert" && v == "system") {
			files[name+": "+p] = v
		}
	}
	return append(errs, readable(files)...)
}

// readable checks that each named file that is set can be opened.
func readable(files map[string]string) []error {
	var errs []error
	for name, path := range files {
		if path == "" {
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		f.Close()
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errs
}
