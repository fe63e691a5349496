package certs

import (
	"crypto/sha256"
	"crypto/x509"
	"slices"
	"time"

	"kubernaut.io/stepvalidation/certs/pemcert"
)

// maxForeignCAs bounds how many CAs a caBundle keeps beside the Rotator's own:
// those of other replicas, and those of earlier runs whose files are gone.
const maxForeignCAs = 8

// fingerprint identifies a certificate by the SHA-256 of its DER encoding.
type fingerprint [sha256.Size]byte

func fingerprintOf(c *x509.Certificate) fingerprint { return sha256.Sum256(c.Raw) }

// validAt says whether c is within its validity period at now.
func validAt(c *x509.Certificate, now time.Time) bool {
	return !now.Before(c.NotBefore) && !now.After(c.NotAfter)
}

// unexpired returns the certificates of certs that have not expired at now.
func unexpired(certs []*x509.Certificate, now time.Time) []*x509.Certificate {
	return slices.DeleteFunc(slices.Clone(certs), func(c *x509.Certificate) bool { return now.After(c.NotAfter) })
}

// rotatedBundle returns the trust bundle after a CA rotation: the new CA first,
// then the CA in the old bundle that signed the serving certificate on disk.
// The webhook server presents that certificate until it loads the new one, so
// its CA must stay trusted; it stays until the next CA rotation.
func rotatedBundle(newCA *x509.Certificate, d *onDisk, now time.Time) []*x509.Certificate {
	bundle := []*x509.Certificate{newCA}
	if d.cert == nil || !validAt(d.cert, now) {
		return bundle
	}
	for _, ca := range d.bundle {
		if validAt(ca, now) && d.cert.CheckSignatureFrom(ca) == nil {
			return append(bundle, ca)
		}
	}
	return bundle
}

// mergeBundle returns the caBundle one webhook must have so that it trusts
// ours, and whether that differs from current. It leaves current as it is when
// current already holds every CA of ours and nothing to remove, whatever the
// order, so that replicas with different CAs agree on it. Otherwise it is ours,
// then the other CAs of current (valid at now, not retired by this Rotator,
// newest first, at most maxForeignCAs).
func mergeBundle(ours []*x509.Certificate, current []byte, retired map[fingerprint]time.Time, now time.Time) ([]byte, bool) {
	currentCerts, parseErr := pemcert.Parse(current)
	own := map[fingerprint]bool{}
	for _, c := range ours {
		own[fingerprintOf(c)] = true
	}

	seen := map[fingerprint]bool{}
	var foreign []*x509.Certificate
	stale := parseErr != nil
	for _, c := range currentCerts {
		fp := fingerprintOf(c)
		if seen[fp] {
			stale = true
			continue
		}
		seen[fp] = true
		if own[fp] {
			continue
		}
		if _, gone := retired[fp]; gone || !validAt(c, now) {
			stale = true
			continue
		}
		foreign = append(foreign, c)
	}
	missing := slices.ContainsFunc(ours, func(c *x509.Certificate) bool { return !seen[fingerprintOf(c)] })
	if !missing && !stale && len(foreign) <= maxForeignCAs {
		return current, false
	}

	slices.SortStableFunc(foreign, func(a, b *x509.Certificate) int { return b.NotBefore.Compare(a.NotBefore) })
	if len(foreign) > maxForeignCAs {
		foreign = foreign[:maxForeignCAs]
	}
	return pemcert.Encode(append(slices.Clone(ours), foreign...)...), true
}
