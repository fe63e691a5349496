package certs

import (
	"crypto/x509"
	"fmt"
	"time"
)

// policy decides, from the certificate folder and the time alone, what must be
// made new. It does no I/O.
type policy struct {
	names       Names
	renewBefore float64 // fraction of the lifetime left when a certificate is renewed
}

// plan is what a check makes new, and why.
type plan struct {
	newCA  bool // a new CA, and so a new serving certificate
	issue  bool // a new serving certificate
	reason string
}

// decide returns the plan for the folder d at now. Files that are valid for
// the names and far from expiry are kept: the CA while it is not due for
// renewal, the serving certificate while it is signed by that CA, valid for
// every name and not due for renewal. (A serving certificate never outlives its
// CA; one issued late in the CA's life is short, and renewed under the next CA.)
func (p policy) decide(d *onDisk, now time.Time) plan {
	if reason := p.caProblem(d, now); reason != "" {
		return plan{newCA: true, issue: true, reason: reason}
	}
	if reason := p.servingProblem(d, now); reason != "" {
		return plan{issue: true, reason: reason}
	}
	return plan{}
}

// caProblem says why the CA in d cannot be kept, or "" when it can.
func (p policy) caProblem(d *onDisk, now time.Time) string {
	if len(d.bundle) == 0 {
		return d.problem(CAFile)
	}
	if d.caKey == nil {
		return d.problem(CAKeyFile)
	}
	ca := d.bundle[0]
	switch {
	case !keyMatches(ca, d.caKey):
		return CAKeyFile + " does not match the CA in " + CAFile
	case !ca.BasicConstraintsValid || !ca.IsCA:
		return "the first certificate in " + CAFile + " is not a CA"
	case now.Before(ca.NotBefore):
		return fmt.Sprintf("the CA is not valid before %s", ca.NotBefore.Format(time.RFC3339))
	case !now.Before(p.renewalTime(ca)):
		return fmt.Sprintf("the CA is due for renewal since %s (expires %s)",
			p.renewalTime(ca).Format(time.RFC3339), ca.NotAfter.Format(time.RFC3339))
	}
	return ""
}

// servingProblem says why the serving certificate in d cannot be kept under
// the CA in d, or "" when it can.
func (p policy) servingProblem(d *onDisk, now time.Time) string {
	if d.cert == nil {
		return d.problem(CertFile)
	}
	if d.key == nil {
		return d.problem(KeyFile)
	}
	if !keyMatches(d.cert, d.key) {
		return KeyFile + " does not match " + CertFile
	}
	roots := x509.NewCertPool()
	roots.AddCert(d.bundle[0])
	if _, err := d.cert.Verify(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return fmt.Sprintf("%s does not verify against the CA: %v", CertFile, err)
	}
	for _, host := range p.names.Hosts() {
		if err := d.cert.VerifyHostname(host); err != nil {
			return fmt.Sprintf("%s is not valid for %s", CertFile, host)
		}
	}
	if renewal := p.renewalTime(d.cert); !now.Before(renewal) {
		return fmt.Sprintf("%s is due for renewal since %s (expires %s)",
			CertFile, renewal.Format(time.RFC3339), d.cert.NotAfter.Format(time.RFC3339))
	}
	return ""
}

// renewalTime is when cert has renewBefore of its lifetime left.
func (p policy) renewalTime(cert *x509.Certificate) time.Time {
	lifetime := cert.NotAfter.Sub(cert.NotBefore)
	return cert.NotAfter.Add(-time.Duration(float64(lifetime) * p.renewBefore))
}
