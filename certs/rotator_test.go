package certs

import (
	"bytes"
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"kubernaut.io/stepvalidation/certs/pemcert"
)

// folder is a snapshot of a certificate folder.
type folder map[string][]byte

func readFolder(t *testing.T, dir string) folder {
	t.Helper()
	f := folder{}
	for _, name := range []string{CAFile, CAKeyFile, CertFile, KeyFile} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		f[name] = data
	}
	return f
}

// bundle returns the CAs of ca.crt, current first.
func (f folder) bundle(t *testing.T) []*x509.Certificate {
	t.Helper()
	certs, err := pemcert.Parse(f[CAFile])
	if err != nil || len(certs) == 0 {
		t.Fatalf("ca.crt: %d certificates, %v", len(certs), err)
	}
	return certs
}

// serving returns the certificate of tls.crt.
func (f folder) serving(t *testing.T) *x509.Certificate {
	t.Helper()
	certs, err := pemcert.Parse(f[CertFile])
	if err != nil || len(certs) == 0 {
		t.Fatalf("tls.crt: %d certificates, %v", len(certs), err)
	}
	return certs[0]
}

// localRotator returns a Rotator for a manager run outside the cluster, with no
// webhook configuration to patch.
func localRotator(t *testing.T, dir string, clk *clocktesting.FakeClock) *Rotator {
	t.Helper()
	r, err := NewRotator(Options{
		CertDir:     dir,
		ServiceName: "kubernaut-webhook-service", ServiceNamespace: "kubernaut-system",
		DNSNames: []string{"localhost"}, IPAddresses: testNames.IPAddresses,
		Clock: clk,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func ensure(t *testing.T, r *Rotator) {
	t.Helper()
	if err := r.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestEnsureWritesAChainForTheServiceNames(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "serving-certs") // created by the Rotator
	r := localRotator(t, dir, clocktesting.NewFakeClock(t0))
	if r.ReadyCheck(nil) == nil {
		t.Fatal("ready before the first certificates")
	}
	ensure(t, r)
	select {
	case <-r.Ready():
	default:
		t.Fatal("not ready after Ensure")
	}
	if err := r.ReadyCheck(nil); err != nil {
		t.Fatal(err)
	}

	f := readFolder(t, dir)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(f[CAFile])
	for _, host := range []string{"kubernaut-webhook-service.kubernaut-system.svc", "kubernaut-webhook-service.kubernaut-system.svc.cluster.local", "localhost", "127.0.0.1"} {
		if _, err := f.serving(t).Verify(x509.VerifyOptions{DNSName: host, Roots: roots, CurrentTime: t0}); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	for name, mode := range map[string]os.FileMode{CAKeyFile: 0o600, KeyFile: 0o600, CertFile: 0o644, CAFile: 0o644} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil || info.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v (%v)", name, info.Mode().Perm(), mode, err)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

func TestEnsureReusesValidFiles(t *testing.T) {
	dir := t.TempDir()
	clk := clocktesting.NewFakeClock(t0)
	ensure(t, localRotator(t, dir, clk))
	before := readFolder(t, dir)

	clk.Step(30 * 24 * time.Hour)
	ensure(t, localRotator(t, dir, clk)) // a restarted manager
	if after := readFolder(t, dir); !equalFolders(before, after) {
		t.Error("valid files were replaced")
	}

	// A file that does not parse is replaced, the others are kept when valid.
	if err := os.WriteFile(filepath.Join(dir, KeyFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	ensure(t, localRotator(t, dir, clk))
	after := readFolder(t, dir)
	if !bytes.Equal(after[CAFile], before[CAFile]) || !bytes.Equal(after[CAKeyFile], before[CAKeyFile]) {
		t.Error("the CA was replaced along with a broken serving key")
	}
	if bytes.Equal(after[CertFile], before[CertFile]) {
		t.Error("the serving certificate was kept without its key")
	}
}

func TestEnsureRenewsAtTwoThirdsOfTheLifetime(t *testing.T) {
	dir := t.TempDir()
	clk := clocktesting.NewFakeClock(t0)
	r := localRotator(t, dir, clk)
	ensure(t, r)
	first := readFolder(t, dir)

	// The serving certificate: kept until 2/3 of its lifetime, then renewed
	// under the same CA, with no change to the trust bundle.
	renewal := r.policy.renewalTime(first.serving(t))
	clk.SetTime(renewal.Add(-time.Second))
	ensure(t, r)
	if !equalFolders(first, readFolder(t, dir)) {
		t.Fatal("renewed before 2/3 of the serving lifetime")
	}
	clk.SetTime(renewal)
	ensure(t, r)
	second := readFolder(t, dir)
	if second.serving(t).Equal(first.serving(t)) {
		t.Fatal("not renewed at 2/3 of the serving lifetime")
	}
	if !bytes.Equal(second[CAFile], first[CAFile]) || !bytes.Equal(second[CAKeyFile], first[CAKeyFile]) {
		t.Fatal("the CA changed when only the serving certificate was due")
	}
	if err := second.serving(t).CheckSignatureFrom(first.bundle(t)[0]); err != nil {
		t.Fatal(err)
	}

	// The CA: replaced at 2/3 of its lifetime; the bundle holds the new CA
	// first and the one it replaced.
	// (A check just before keeps the served certificate fresh, as the checks
	// every Interval would.)
	oldCA := first.bundle(t)[0]
	clk.SetTime(r.policy.renewalTime(oldCA).Add(-time.Second))
	ensure(t, r)
	clk.SetTime(r.policy.renewalTime(oldCA))
	ensure(t, r)
	third := readFolder(t, dir)
	bundle := third.bundle(t)
	if len(bundle) != 2 || bundle[0].Equal(oldCA) || !bundle[1].Equal(oldCA) {
		t.Fatalf("bundle after a CA rotation = %v, want [new CA, %s]", names(bundle), oldCA.Subject.CommonName)
	}
	if err := third.serving(t).CheckSignatureFrom(bundle[0]); err != nil {
		t.Fatalf("the serving certificate is not signed by the new CA: %v", err)
	}
	clk.Step(time.Minute)
	ensure(t, r)
	if !equalFolders(third, readFolder(t, dir)) {
		t.Fatal("the check after a CA rotation changed the files")
	}

	// The next CA rotation drops the oldest CA.
	clk.SetTime(r.policy.renewalTime(bundle[0]).Add(-time.Second))
	ensure(t, r)
	clk.SetTime(r.policy.renewalTime(bundle[0]))
	ensure(t, r)
	fourth := readFolder(t, dir).bundle(t)
	if len(fourth) != 2 || !fourth[1].Equal(bundle[0]) {
		t.Fatalf("bundle after a second CA rotation = %v, want [newest, %s]", names(fourth), bundle[0].Subject.CommonName)
	}
}

func TestEnsureRetiresTheCAItDrops(t *testing.T) {
	dir := t.TempDir()
	clk := clocktesting.NewFakeClock(t0)
	r := localRotator(t, dir, clk)
	ensure(t, r)
	first := readFolder(t, dir).bundle(t)[0]

	// Losing ca.key forces a CA rotation, twice: the first CA, still valid, leaves
	// the bundle and is retired, so that the caBundles drop it too.
	for range 2 {
		clk.Step(time.Minute)
		if err := os.Remove(filepath.Join(dir, CAKeyFile)); err != nil {
			t.Fatal(err)
		}
		ensure(t, r)
	}
	bundle := readFolder(t, dir).bundle(t)
	if len(bundle) != 2 || bundle[0].Equal(first) || bundle[1].Equal(first) {
		t.Fatalf("bundle = %v, want two CAs without the first, %s", names(bundle), first.Subject.CommonName)
	}
	if _, retired := r.retired[fingerprintOf(first)]; !retired {
		t.Error("the dropped CA is not retired, so it would stay in the caBundles")
	}
}

func TestNewRotatorRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"no name", Options{}, "no name"},
		{"service without namespace", Options{ServiceName: "svc", DNSNames: []string{"x"}}, "go together"},
		{"CA shorter than serving", Options{DNSNames: []string{"x"}, CAValidity: time.Hour, ServingValidity: 2 * time.Hour}, "shorter"},
		{"renew fraction", Options{DNSNames: []string{"x"}, RenewBefore: 1.5}, "between 0 and 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewRotator(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one that says %q", err, tc.want)
			}
		})
	}
}

func equalFolders(a, b folder) bool {
	for name := range a {
		if !bytes.Equal(a[name], b[name]) {
			return false
		}
	}
	return len(a) == len(b)
}

func names(certs []*x509.Certificate) []string {
	var out []string
	for _, c := range certs {
		out = append(out, c.Subject.CommonName)
	}
	return out
}
