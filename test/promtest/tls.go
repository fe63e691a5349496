package promtest

import (
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"kubernaut.io/stepvalidation/certs/ca"
)

// The files writeServingFiles writes into Prometheus's folder.
const (
	caFileName    = "ca.crt"
	certFileName  = "tls.crt"
	keyFileName   = "tls.key"
	webConfigFile = "web-config.yml"
)

// writeServingFiles makes a CA and a serving certificate for 127.0.0.1 and
// localhost, writes them and a web configuration (exporter-toolkit's format,
// which --web.config.file reads) into dir, and returns the CA's file and pool.
func writeServingFiles(dir string) (string, *x509.CertPool, error) {
	now := time.Now()
	authority, err := ca.New(now, 24*time.Hour)
	if err != nil {
		return "", nil, fmt.Errorf("prometheus: %w", err)
	}
	serving, err := authority.Issue(ca.Names{DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}, now, 24*time.Hour)
	if err != nil {
		return "", nil, fmt.Errorf("prometheus: %w", err)
	}
	webConfig := fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\n", certFileName, keyFileName)
	for name, data := range map[string][]byte{
		caFileName:    authority.CertPEM,
		certFileName:  serving.CertPEM,
		keyFileName:   serving.KeyPEM,
		webConfigFile: []byte(webConfig),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return "", nil, fmt.Errorf("prometheus: writing %s: %w", name, err)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(authority.Cert)
	return filepath.Join(dir, caFileName), pool, nil
}

// startTokenProxy serves a reverse proxy to upstream on a loopback port that
// passes only requests with "Authorization: Bearer <p.token>" (401 otherwise),
// over TLS with Prometheus's own certificate when useTLS. It returns its URL.
func (p *Prometheus) startTokenProxy(upstream string, transport http.RoundTripper, useTLS bool) (string, error) {
	target, err := url.Parse(upstream)
	if err != nil {
		return "", fmt.Errorf("prometheus: %w", err)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Header.Del("Authorization")
		},
		Transport: transport,
	}
	want := []byte("Bearer " + p.token)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="promtest"`)
			http.Error(w, "Unauthorized: a bearer token is required", http.StatusUnauthorized)
			return
		}
		proxy.ServeHTTP(w, r)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("prometheus: the token proxy's port: %w", err)
	}
	// A client that distrusts the certificate is the client's error to report
	// (as the TLS test's does), not noise on the test's output.
	p.proxy = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	scheme := "http"
	if useTLS {
		cert, err := tls.LoadX509KeyPair(filepath.Join(p.dir, certFileName), filepath.Join(p.dir, keyFileName))
		if err != nil {
			_ = l.Close()
			return "", fmt.Errorf("prometheus: the token proxy's certificate: %w", err)
		}
		p.proxy.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		l = tls.NewListener(l, p.proxy.TLSConfig)
		scheme = "https"
	}
	srv := p.proxy
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "promtest: token proxy: %v\n", err)
		}
	}()
	return scheme + "://" + l.Addr().String(), nil
}
