package tlsconf_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ofstack/ofs/internal/testenv"
	"github.com/ofstack/ofs/internal/tlsconf"
)

// serve accepts TLS connections on loopback and answers each with "ok"
// after the handshake.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if err := c.(*tls.Conn).Handshake(); err == nil {
					_, _ = c.Write([]byte("ok"))
				}
			}()
		}
	}()
	return l.Addr().String()
}

// call dials addr, and returns the server's common name and what it said.
func call(addr string, cfg *tls.Config) (string, string, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return "", "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		return "", "", err
	}
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName, string(b), nil
}

func TestServerAndClient(t *testing.T) {
	certs := testenv.NewCerts(t)
	srv, err := tlsconf.Server(tlsconf.Files{CertFile: certs.ServerCert, KeyFile: certs.ServerKey})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, srv)

	cli, err := tlsconf.Client(tlsconf.Files{CAFile: certs.CA}, "")
	if err != nil {
		t.Fatal(err)
	}
	cn, said, err := call(addr, cli)
	if err != nil || said != "ok" || cn != "ofs test server" {
		t.Fatalf("call = %q %q %v", cn, said, err)
	}

	// Without the CA, the system's roots do not know the test CA.
	sys, err := tlsconf.Client(tlsconf.Files{}, "")
	if err != nil {
		t.Fatal(err)
	}
	var verr *tls.CertificateVerificationError
	if _, _, err := call(addr, sys); !errors.As(err, &verr) {
		t.Fatalf("a client without the CA: %v, want an unknown authority", err)
	}
}

func TestMutualTLS(t *testing.T) {
	certs := testenv.NewCerts(t)
	srv, err := tlsconf.Server(tlsconf.Files{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, CAFile: certs.CA})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, srv)

	with, err := tlsconf.Client(tlsconf.Files{CAFile: certs.CA, CertFile: certs.ClientCert, KeyFile: certs.ClientKey}, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	if _, said, err := call(addr, with); err != nil || said != "ok" {
		t.Fatalf("a client with a certificate: %q %v", said, err)
	}
	without, err := tlsconf.Client(tlsconf.Files{CAFile: certs.CA}, "")
	if err != nil {
		t.Fatal(err)
	}
	// TLS 1.3 reports the refusal of the client on its first read.
	if _, said, err := call(addr, without); err == nil || said == "ok" {
		t.Fatalf("a client without a certificate was served: %q %v", said, err)
	}
}

// TestRotation replaces the server's certificate on disk: the next
// handshake uses the new one, with no restart.
func TestRotation(t *testing.T) {
	certs := testenv.NewCerts(t)
	srv, err := tlsconf.Server(tlsconf.Files{CertFile: certs.ServerCert, KeyFile: certs.ServerKey})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, srv)
	cli, err := tlsconf.Client(tlsconf.Files{CAFile: certs.CA}, "")
	if err != nil {
		t.Fatal(err)
	}
	if cn, _, err := call(addr, cli); err != nil || cn != "ofs test server" {
		t.Fatalf("before: %q %v", cn, err)
	}
	certs.Issue(t, "server", "ofs rotated server")
	deadline := time.Now().Add(10 * time.Second)
	for {
		cn, _, err := call(addr, cli)
		if err == nil && cn == "ofs rotated server" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rotated certificate is not served: %q %v", cn, err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// A half-written rotation keeps the certificate in use.
	if err := os.WriteFile(certs.ServerKey, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if cn, _, err := call(addr, cli); err != nil || cn != "ofs rotated server" {
		t.Fatalf("during a broken rotation: %q %v", cn, err)
	}
}

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		err  func() error
		want string
	}{
		{"server without key", func() error { _, err := tlsconf.Server(tlsconf.Files{CertFile: junk}); return err }, "needs cert_file and key_file"},
		{"server junk", func() error { _, err := tlsconf.Server(tlsconf.Files{CertFile: junk, KeyFile: junk}); return err }, "junk.pem"},
		{"missing CA", func() error {
			_, err := tlsconf.Client(tlsconf.Files{CAFile: filepath.Join(dir, "none.pem")}, "")
			return err
		}, "none.pem"},
		{"junk CA", func() error { _, err := tlsconf.Client(tlsconf.Files{CAFile: junk}, ""); return err }, "no PEM certificate"},
		{"client cert without key", func() error { _, err := tlsconf.Client(tlsconf.Files{CertFile: junk}, ""); return err }, "both"},
	} {
		err := tc.err()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}
