package certs

import (
	"crypto/x509"
	"os"
	"strings"
	"testing"
	"time"

	"kubernaut.io/stepvalidation/certs/pemcert"
)

// diskOf returns the folder state holding bundle in ca.crt, caKey's key in
// ca.key and serving in tls.crt and tls.key; nil parts are missing files.
func diskOf(bundle []*x509.Certificate, caKey, serving *KeyPair) *onDisk {
	d := &onDisk{raw: map[string][]byte{}, problems: map[string]error{}}
	if len(bundle) > 0 {
		d.bundle, d.raw[CAFile] = bundle, pemcert.Encode(bundle...)
	} else {
		d.problems[CAFile] = os.ErrNotExist
	}
	if caKey != nil {
		d.caKey, d.raw[CAKeyFile] = caKey.Key, caKey.KeyPEM
	} else {
		d.problems[CAKeyFile] = os.ErrNotExist
	}
	if serving != nil {
		d.cert, d.key = serving.Cert, serving.Key
		d.raw[CertFile], d.raw[KeyFile] = serving.CertPEM, serving.KeyPEM
	} else {
		d.problems[CertFile], d.problems[KeyFile] = os.ErrNotExist, os.ErrNotExist
	}
	return d
}

func TestDecide(t *testing.T) {
	const day = 24 * time.Hour
	pol := policy{names: testNames, renewBefore: DefaultRenewBefore}

	ca := mustCA(t, t0, 365*day)
	serving := mustIssue(t, ca, testNames, t0, 90*day)
	otherCA := mustCA(t, t0, 365*day)
	fewerNames := mustIssue(t, ca, Names{DNSNames: testNames.DNSNames[:1]}, t0, 90*day)
	mismatched := &KeyPair{Cert: serving.Cert, Key: otherCA.Key, CertPEM: serving.CertPEM, KeyPEM: otherCA.KeyPEM}
	servingRenewal := pol.renewalTime(serving.Cert) // 2/3 of its life: day 60 minus a little for the backdating
	caRenewal := pol.renewalTime(ca.Cert)

	sameLife := mustCA(t, t0, 90*day) // CAValidity = ServingValidity
	sameLifeServing := mustIssue(t, sameLife, testNames, t0, 90*day)

	for _, tc := range []struct {
		name   string
		pol    policy
		disk   *onDisk
		at     time.Time
		want   plan
		reason string
	}{
		{"fresh files are kept", pol, diskOf([]*x509.Certificate{ca.Cert}, ca, serving), t0, plan{}, ""},
		{"kept just before 2/3 of the serving lifetime", pol, diskOf([]*x509.Certificate{ca.Cert}, ca, serving), servingRenewal.Add(-time.Second), plan{}, ""},
		{"kept with the previous CA in the bundle", pol, diskOf([]*x509.Certificate{ca.Cert, otherCA.Cert}, ca, serving), t0, plan{}, ""},
		{"serving renewed at 2/3 of its lifetime, CA kept", pol, diskOf([]*x509.Certificate{ca.Cert}, ca, serving), servingRenewal, plan{issue: true}, "tls.crt is due for renewal"},
		{"serving renewed when expired", pol, diskOf([]*x509.Certificate{ca.Cert}, ca, serving), t0.Add(91 * day), plan{issue: true}, "does not verify"},
		{"serving renewed when a name is missing", pol, diskOf([]*x509.Certificate{ca.Cert}, ca, fewerNames), t0, plan{issue: true}, "not valid for"},
		{"serving renewed when signed by another CA", pol, diskOf([]*x509.Certificate{otherCA.Cert}, otherCA, serving), t0, plan{issue: true}, "does not verify against the CA"},
		{"serving renewed when its key does not match", pol, diskOf([]*x509.Certificate{ca.Cert}, ca, mismatched), t0, plan{issue: true}, "tls.key does not match"},
		{"serving made when missing", pol, diskOf([]*x509.Certificate{ca.Cert}, ca, nil), t0, plan{issue: true}, "tls.crt is missing"},
		{"everything made in an empty folder", pol, diskOf(nil, nil, nil), t0, plan{newCA: true, issue: true}, "ca.crt is missing"},
		{"new CA when its key is missing", pol, diskOf([]*x509.Certificate{ca.Cert}, nil, serving), t0, plan{newCA: true, issue: true}, "ca.key is missing"},
		{"new CA when its key does not match", pol, diskOf([]*x509.Certificate{ca.Cert}, otherCA, serving), t0, plan{newCA: true, issue: true}, "ca.key does not match"},
		{"new CA when ca.crt holds no CA", pol, diskOf([]*x509.Certificate{serving.Cert}, serving, serving), t0, plan{newCA: true, issue: true}, "is not a CA"},
		{"new CA at 2/3 of its lifetime", pol, diskOf([]*x509.Certificate{ca.Cert}, ca, serving), caRenewal, plan{newCA: true, issue: true}, "the CA is due for renewal"},
		{"new CA not valid yet", pol, diskOf([]*x509.Certificate{ca.Cert}, ca, serving), t0.Add(-time.Hour), plan{newCA: true, issue: true}, "not valid before"},
		{"a CA as long-lived as its serving certificate is kept until its renewal", pol, diskOf([]*x509.Certificate{sameLife.Cert}, sameLife, sameLifeServing), pol.renewalTime(sameLife.Cert).Add(-time.Second), plan{}, ""},
		{"a CA as long-lived as its serving certificate is renewed with it", pol, diskOf([]*x509.Certificate{sameLife.Cert}, sameLife, sameLifeServing), pol.renewalTime(sameLife.Cert), plan{newCA: true, issue: true}, "the CA is due for renewal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.pol.decide(tc.disk, tc.at)
			if got.newCA != tc.want.newCA || got.issue != tc.want.issue {
				t.Fatalf("decide = %+v, want newCA=%v issue=%v", got, tc.want.newCA, tc.want.issue)
			}
			if !strings.Contains(got.reason, tc.reason) {
				t.Errorf("reason %q does not say %q", got.reason, tc.reason)
			}
		})
	}
}

func TestRenewalTimeIsTwoThirdsOfTheLifetime(t *testing.T) {
	cert := &x509.Certificate{NotBefore: t0, NotAfter: t0.Add(90 * time.Hour)}
	if got, want := (policy{renewBefore: DefaultRenewBefore}).renewalTime(cert), t0.Add(60*time.Hour); got.Sub(want).Abs() > time.Millisecond {
		t.Errorf("renewal time = %s, want %s", got, want)
	}
}
