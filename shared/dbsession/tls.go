package dbsession

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
)

// EnvCABundle names the PEM file of the certificate authorities a
// database's TLS certificate must chain to: for RDS and Aurora, AWS's
// global bundle (https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem),
// shipped beside the function's bootstrap.
const EnvCABundle = "DB_CA_BUNDLE"

// TLSConfig is the TLS a connection with ssl set requires: the server's
// certificate verified against the bundle's authorities and for host. It
// never turns verification off: without a readable bundle it is an error.
func TLSConfig(bundlePath, host string) (*tls.Config, error) {
	if bundlePath == "" {
		return nil, errors.New("no certificate authority bundle is configured (" + EnvCABundle + "), and ssl requires verifying the database's certificate")
	}
	pool, err := certPool(bundlePath)
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}, nil
}

// pools keeps each bundle's parsed authorities: a warm function reads and
// parses its bundle (some 100 certificates for RDS) once, not per request.
var pools sync.Map // path -> *x509.CertPool

func certPool(path string) (*x509.CertPool, error) {
	if p, ok := pools.Load(path); ok {
		return p.(*x509.CertPool), nil
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the certificate authority bundle %s: %w", path, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("the certificate authority bundle %s holds no PEM certificate", path)
	}
	pools.Store(path, pool)
	return pool, nil
}
