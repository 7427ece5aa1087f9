// Package tlsconf builds the TLS configurations of ofs's servers and clients
// from PEM files, as an operator (or cert-manager) leaves them on disk.
//
// A certificate and its key are read again when either file changes, so a
// rotated certificate is used by the next handshake without a restart;
// connections already open keep the certificate they started with. A CA
// bundle is read once, when the configuration is built.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Files names the PEM files of one side of a connection. Every field may be
// empty; which ones are needed depends on the side (see Server and Client).
type Files struct {
	// CertFile and KeyFile are this side's certificate chain and its key.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// CAFile holds the CA certificates that verify the other side: on a
	// server, client certificates (which are then required); on a client,
	// the server's certificate (empty: the system's roots).
	CAFile string `yaml:"ca_file"`
}

// Enabled reports whether any file is named.
func (f Files) Enabled() bool { return f.CertFile != "" || f.KeyFile != "" || f.CAFile != "" }

// Server returns the configuration of a TLS server: its certificate, and,
// when CAFile is set, mutual TLS (every client must present a certificate
// that the CA signed). TLS 1.2 is the oldest version accepted.
func Server(f Files) (*tls.Config, error) {
	if f.CertFile == "" || f.KeyFile == "" {
		return nil, errors.New("tls: a server needs cert_file and key_file")
	}
	kp, err := newKeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return kp.get() },
	}
	if f.CAFile != "" {
		if cfg.ClientCAs, err = readPool(f.CAFile); err != nil {
			return nil, err
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// Client returns the configuration of a TLS client: the server is verified
// against CAFile (or the system's roots), with serverName as its name when
// given (else the host of the address dialed); CertFile and KeyFile, when
// given, are the client certificate for mutual TLS.
func Client(f Files, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if f.CAFile != "" {
		pool, err := readPool(f.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	switch {
	case f.CertFile != "" && f.KeyFile != "":
		kp, err := newKeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return kp.get() }
	case f.CertFile != "" || f.KeyFile != "":
		return nil, errors.New("tls: a client certificate needs both cert_file and key_file")
	}
	return cfg, nil
}

func readPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tls: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("tls: CA file %s holds no PEM certificate", file)
	}
	return pool, nil
}

// keyPair is a certificate read from files, read again when they change.
type keyPair struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]time.Time // the files' modification times when cert was read
	checked time.Time    // files are looked at once a second at most
}

func newKeyPair(certFile, keyFile string) (*keyPair, error) {
	kp := &keyPair{certFile: certFile, keyFile: keyFile}
	if _, err := kp.get(); err != nil {
		return nil, err
	}
	return kp, nil
}

// get returns the current certificate. When the files changed and cannot be
// read (a rotation half done), the certificate read before is kept and the
// next handshake tries again.
func (k *keyPair) get() (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := time.Now()
	if k.cert != nil && now.Sub(k.checked) < time.Second {
		return k.cert, nil
	}
	k.checked = now
	stamp, err := modTimes(k.certFile, k.keyFile)
	if err == nil && k.cert != nil && stamp == k.stamp {
		return k.cert, nil
	}
	if err == nil {
		var c tls.Certificate
		if c, err = tls.LoadX509KeyPair(k.certFile, k.keyFile); err == nil {
			k.cert, k.stamp = &c, stamp
			return k.cert, nil
		}
	}
	if k.cert != nil {
		return k.cert, nil
	}
	return nil, fmt.Errorf("tls: certificate %s and key %s: %w", k.certFile, k.keyFile, err)
}

func modTimes(files ...string) ([2]time.Time, error) {
	var t [2]time.Time
	for i, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return t, err
		}
		t[i] = st.ModTime()
	}
	return t, nil
}

// ClientConfig turns on TLS to a service (Kafka, etcd, Redis, ScyllaDB) as a
// configuration file says it: ca_file verifies the service's certificate
// (empty: the system's roots, which enabled alone also uses), cert_file and
// key_file are a client certificate for mutual TLS.
type ClientConfig struct {
	Enabled bool `yaml:"enabled"`
	Files   `yaml:",inline"`
	// ServerName is the name the service's certificate must carry, when it
	// is not the host of its address.
	ServerName string `yaml:"server_name"`
}

// Config returns the TLS configuration, nil when TLS is off.
func (t ClientConfig) Config() (*tls.Config, error) {
	if !t.Enabled && !t.Files.Enabled() && t.ServerName == "" {
		return nil, nil
	}
	return Client(t.Files, t.ServerName)
}
