package certs

import (
	"crypto/x509"
	"slices"
	"testing"
	"time"

	"kubernaut.io/stepvalidation/certs/pemcert"
)

// subjects names the certificates of a PEM bundle, in order.
func subjects(t *testing.T, bundle []byte) []string {
	t.Helper()
	certs, err := pemcert.Parse(bundle)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range certs {
		names = append(names, c.Subject.CommonName)
	}
	return names
}

func cn(cas ...*KeyPair) []string {
	var names []string
	for _, ca := range cas {
		names = append(names, ca.Cert.Subject.CommonName)
	}
	return names
}

func TestMergeBundle(t *testing.T) {
	now := t0.Add(time.Hour)
	ours, previous := mustCA(t, t0, 24*time.Hour), mustCA(t, t0.Add(-time.Second), 24*time.Hour)
	replica := mustCA(t, t0.Add(-2*time.Second), 24*time.Hour)
	retiredCA := mustCA(t, t0.Add(-3*time.Second), 24*time.Hour)
	expired := mustCA(t, t0.Add(-48*time.Hour), 24*time.Hour)
	retired := map[fingerprint]time.Time{fingerprintOf(retiredCA.Cert): retiredCA.Cert.NotAfter}
	mine := []*x509.Certificate{ours.Cert, previous.Cert}
	pem := func(cas ...*KeyPair) []byte {
		var certs []*x509.Certificate
		for _, ca := range cas {
			certs = append(certs, ca.Cert)
		}
		return pemcert.Encode(certs...)
	}

	for _, tc := range []struct {
		name    string
		current []byte
		want    []string
		changed bool
	}{
		{"empty: ours", nil, cn(ours, previous), true},
		{"wiped by kubectl apply (a placeholder): ours", []byte("\n"), cn(ours, previous), true},
		{"garbage: ours", []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"), cn(ours, previous), true},
		{"already ours: left alone", pem(ours, previous), cn(ours, previous), false},
		{"ours in another order: left alone", pem(previous, ours), cn(previous, ours), false},
		{"ours beside another replica's: left alone", pem(replica, ours, previous), cn(replica, ours, previous), false},
		{"another replica's only: ours first, theirs kept", pem(replica), cn(ours, previous, replica), true},
		{"one of ours missing: added", pem(ours), cn(ours, previous), true},
		{"a CA we retired: removed", pem(ours, previous, retiredCA), cn(ours, previous), true},
		{"an expired CA: removed", pem(expired, ours, previous), cn(ours, previous), true},
		{"a duplicate: removed", pem(ours, previous, ours), cn(ours, previous), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := mergeBundle(mine, tc.current, retired, now)
			if changed != tc.changed {
				t.Errorf("changed = %v, want %v", changed, tc.changed)
			}
			if names := subjects(t, got); !slices.Equal(names, tc.want) {
				t.Errorf("bundle = %v, want %v", names, tc.want)
			}
		})
	}
}

func TestMergeBundleKeepsTheNewestForeignCAs(t *testing.T) {
	now := t0.Add(time.Hour)
	ours := mustCA(t, t0, 24*time.Hour)
	var foreign []*x509.Certificate
	for i := range maxForeignCAs + 3 {
		foreign = append(foreign, mustCA(t, t0.Add(-time.Duration(i)*time.Minute), 24*time.Hour).Cert)
	}
	got, changed := mergeBundle([]*x509.Certificate{ours.Cert}, pemcert.Encode(foreign...), nil, now)
	if !changed {
		t.Fatal("not changed")
	}
	certs, _ := pemcert.Parse(got)
	if len(certs) != 1+maxForeignCAs {
		t.Fatalf("%d CAs in the bundle, want %d", len(certs), 1+maxForeignCAs)
	}
	for i, c := range certs[1:] {
		if !c.Equal(foreign[i]) {
			t.Errorf("foreign CA %d is %s, want %s", i, c.Subject.CommonName, foreign[i].Subject.CommonName)
		}
	}
}

func TestRotatedBundleKeepsTheCAOfTheServedCertificate(t *testing.T) {
	day := 24 * time.Hour
	current, previous := mustCA(t, t0, 365*day), mustCA(t, t0.Add(-time.Second), 365*day)
	newCA := mustCA(t, t0.Add(day), 365*day)
	now := t0.Add(day)
	for _, tc := range []struct {
		name string
		disk *onDisk
		want []string
	}{
		{"a rotation: the new CA and the current one", diskOf([]*x509.Certificate{current.Cert, previous.Cert}, current,
			mustIssue(t, current, testNames, t0, 90*day)), cn(newCA, current)},
		{"after a crash half-way through the last rotation: the CA of what is served", diskOf([]*x509.Certificate{current.Cert, previous.Cert}, current,
			mustIssue(t, previous, testNames, t0, 90*day)), cn(newCA, previous)},
		{"nothing served: the new CA alone", diskOf([]*x509.Certificate{current.Cert}, current, nil), cn(newCA)},
		{"an expired certificate served: the new CA alone", diskOf([]*x509.Certificate{current.Cert}, current,
			mustIssue(t, current, testNames, t0, time.Hour)), cn(newCA)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := subjects(t, pemcert.Encode(rotatedBundle(newCA.Cert, tc.disk, now)...)); !slices.Equal(got, tc.want) {
				t.Errorf("bundle = %v, want %v", got, tc.want)
			}
		})
	}
}
