package securelink

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
)

// TLS names the files and the server name of a client's TLS settings. The zero value
// verifies the server against the system's roots under the name dialled.
type TLS struct {
	// CAFile is a PEM file of the certificate authorities the server's certificate must
	// chain to, in place of the system's roots.
	CAFile string
	// CertFile and KeyFile are the client's certificate and private key (PEM), for servers
	// that require one (mutual TLS). Both or neither.
	CertFile, KeyFile string
	// ServerName, if set, is the name the server's certificate must hold, in place of the
	// host dialled.
	ServerName string
}

// Config returns the client TLS configuration: TLS 1.2 or later, the server's certificate
// verified against CAFile (or the system's roots), the client's key pair when given. The
// files are read on every call, so a client built after a certificate rotation uses the
// new files. Errors name the file.
func (t TLS) Config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate in it", t.CAFile)
		}
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("client certificate: set both the certificate and the key file, or neither")
	}
	if t.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate %s: %w", t.CertFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// Set reports whether any setting is given (which implies TLS on).
func (t TLS) Set() bool { return t != TLS{} }

// Secret returns value, or the contents of file (without surrounding white space) when
// file is set; setting both is an error. name is the variable named in errors.
func Secret(name, value, file string) (string, error) {
	if file == "" {
		return value, nil
	}
	if value != "" {
		return "", fmt.Errorf("%s and %s_FILE: set one, not both", name, name)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s_FILE: %s is empty", name, file)
	}
	return s, nil
}
