package ca

import (
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"
)

func TestIssuedCertificatesVerifyForTheirUse(t *testing.T) {
	now := time.Now()
	signer, err := New(now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(signer.Cert)

	// Asked for longer than the CA lives: capped at the CA's end.
	client, err := signer.IssueClient("kube-apiserver-webhook-client", now, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !client.Cert.NotAfter.Equal(signer.Cert.NotAfter) {
		t.Errorf("client certificate ends %v, want the CA's end %v", client.Cert.NotAfter, signer.Cert.NotAfter)
	}
	if client.Cert.Subject.CommonName != "kube-apiserver-webhook-client" {
		t.Errorf("CommonName %q", client.Cert.Subject.CommonName)
	}
	if _, err := client.Cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate does not verify for client authentication: %v", err)
	}
	if _, err := client.Cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("client certificate verifies for serving")
	}

	serving, err := signer.Issue(Names{DNSNames: []string{"webhook.svc"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := serving.Cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "127.0.0.1"}); err != nil {
		t.Errorf("serving certificate does not verify for 127.0.0.1: %v", err)
	}
	if _, err := serving.Cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("serving certificate verifies for client authentication")
	}

	if _, err := signer.IssueClient("", now, time.Hour); err == nil || !strings.Contains(err.Error(), "no common name") {
		t.Errorf("empty common name: %v", err)
	}
	if _, err := signer.Issue(Names{}, now, time.Hour); err == nil || !strings.Contains(err.Error(), "no names") {
		t.Errorf("no names: %v", err)
	}
}
