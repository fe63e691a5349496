package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"
)

var (
	t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	testNames = Names{
		DNSNames:    []string{"kubernaut-webhook-service.kubernaut-system.svc", "kubernaut-webhook-service.kubernaut-system.svc.cluster.local", "localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
)

func mustCA(t *testing.T, now time.Time, validity time.Duration) *KeyPair {
	t.Helper()
	ca, err := NewCA(now, validity)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func mustIssue(t *testing.T, ca *KeyPair, names Names, now time.Time, validity time.Duration) *KeyPair {
	t.Helper()
	serving, err := ca.Issue(names, now, validity)
	if err != nil {
		t.Fatal(err)
	}
	return serving
}

func TestIssuedChainVerifiesForEveryName(t *testing.T) {
	ca := mustCA(t, t0, DefaultCAValidity)
	serving := mustIssue(t, ca, testNames, t0, DefaultServingValidity)

	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca.CertPEM) {
		t.Fatal("the CA's PEM does not parse")
	}
	leaf, err := tls.X509KeyPair(serving.CertPEM, serving.KeyPEM)
	if err != nil {
		t.Fatalf("tls.crt and tls.key are not a pair: %v", err)
	}
	if _, err := x509.ParseCertificate(leaf.Certificate[0]); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		host string
		at   time.Time
		ok   bool
	}{
		{"kubernaut-webhook-service.kubernaut-system.svc", t0, true},
		{"kubernaut-webhook-service.kubernaut-system.svc.cluster.local", t0, true},
		{"localhost", t0.Add(89 * 24 * time.Hour), true},
		{"127.0.0.1", t0, true},
		{"::1", t0, true},
		{"kubernaut-webhook-service.default.svc", t0, false},
		{"10.0.0.1", t0, false},
		{"localhost", t0.Add(91 * 24 * time.Hour), false}, // expired
		{"localhost", t0.Add(-time.Hour), false},          // not valid yet
	} {
		t.Run(tc.host+"@"+tc.at.Format(time.DateOnly), func(t *testing.T) {
			_, err := serving.Cert.Verify(x509.VerifyOptions{
				DNSName: tc.host, Roots: roots, CurrentTime: tc.at,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			})
			if (err == nil) != tc.ok {
				t.Errorf("verify %s at %s: err = %v, want ok = %v", tc.host, tc.at, err, tc.ok)
			}
		})
	}
}

func TestGeneratedCertificatesShape(t *testing.T) {
	ca := mustCA(t, t0, DefaultCAValidity)
	serving := mustIssue(t, ca, testNames, t0, DefaultServingValidity)

	for name, kp := range map[string]*KeyPair{"CA": ca, "serving": serving} {
		key, ok := kp.Cert.PublicKey.(*ecdsa.PublicKey)
		if !ok || key.Curve != elliptic.P256() {
			t.Errorf("%s key: %T, want ECDSA P-256", name, kp.Cert.PublicKey)
		}
		if !kp.Cert.NotBefore.Before(t0) {
			t.Errorf("%s NotBefore %s is not backdated", name, kp.Cert.NotBefore)
		}
		parsed, err := parseKey(kp.KeyPEM)
		if err != nil || !keyMatches(kp.Cert, parsed) {
			t.Errorf("%s KeyPEM does not round-trip to the certificate's key: %v", name, err)
		}
	}
	if !ca.Cert.IsCA || !ca.Cert.MaxPathLenZero || ca.Cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("CA: IsCA=%v MaxPathLenZero=%v KeyUsage=%v", ca.Cert.IsCA, ca.Cert.MaxPathLenZero, ca.Cert.KeyUsage)
	}
	if got, want := ca.Cert.NotAfter, t0.Add(DefaultCAValidity); !got.Equal(want) {
		t.Errorf("CA NotAfter = %s, want %s", got, want)
	}
	if serving.Cert.IsCA {
		t.Error("the serving certificate is a CA")
	}
	if got, want := serving.Cert.NotAfter, t0.Add(DefaultServingValidity); !got.Equal(want) {
		t.Errorf("serving NotAfter = %s, want %s", got, want)
	}

	// A serving certificate never outlives its CA.
	short := mustIssue(t, mustCA(t, t0, time.Hour), testNames, t0, DefaultServingValidity)
	if got, want := short.Cert.NotAfter, t0.Add(time.Hour); !got.Equal(want) {
		t.Errorf("serving NotAfter under a CA valid 1h = %s, want %s", got, want)
	}
	// Two CAs made one after the other have different subjects.
	if other := mustCA(t, t0.Add(time.Second), DefaultCAValidity); other.Cert.Subject.String() == ca.Cert.Subject.String() {
		t.Errorf("two CAs share the subject %s", ca.Cert.Subject)
	}
}

func TestIssueWithoutNamesFails(t *testing.T) {
	if _, err := mustCA(t, t0, time.Hour).Issue(Names{}, t0, time.Hour); err == nil {
		t.Error("issuing a certificate for no name succeeded")
	}
}
