// Package ca makes certificates: a self-signed CA, the serving certificates it
// signs for the webhooks, and client certificates (the API server's to the
// webhooks, the aggregation layer's front proxy). It is a leaf, so that the test harness and the
// local cluster can make certificates without importing the rotator.
package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"

	"kubernaut.io/stepvalidation/certs/pemcert"
)

// backdate is how far before "now" a certificate becomes valid, so that a
// client whose clock is a little behind ours accepts it at once.
const backdate = 5 * time.Minute

// Names are the names a serving certificate is valid for.
type Names struct {
	DNSNames    []string
	IPAddresses []net.IP
}

// Hosts returns every name as a client would dial it.
func (n Names) Hosts() []string {
	hosts := append([]string(nil), n.DNSNames...)
	for _, ip := range n.IPAddresses {
		hosts = append(hosts, ip.String())
	}
	return hosts
}

// KeyPair is a certificate and its private key, parsed and PEM-encoded.
type KeyPair struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte
}

// New returns a self-signed CA with an ECDSA P-256 key, valid from now for
// validity. Its subject names the time it was made, so that two CAs in one
// caBundle never share a subject.
func New(now time.Time, validity time.Duration) (*KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the CA key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: fmt.Sprintf("kubernaut-webhook-ca@%d", now.Unix()), Organization: []string{"kubernaut"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	return sign(template, template, key, key)
}

// Issue returns a serving certificate signed by ca for names, with a new ECDSA
// P-256 key, valid from now for validity but never beyond the CA.
func (ca *KeyPair) Issue(names Names, now time.Time, validity time.Duration) (*KeyPair, error) {
	hosts := names.Hosts()
	if len(hosts) == 0 {
		return nil, fmt.Errorf("issuing a serving certificate: no names")
	}
	return ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0], Organization: []string{"kubernaut"}},
		DNSNames:    names.DNSNames,
		IPAddresses: names.IPAddresses,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, now, validity)
}

// IssueClient returns a certificate for client authentication as commonName
// (the user an API server or a webhook sees), signed by ca, with a new ECDSA
// P-256 key, valid from now for validity but never beyond the CA.
func (ca *KeyPair) IssueClient(commonName string, now time.Time, validity time.Duration) (*KeyPair, error) {
	if commonName == "" {
		return nil, fmt.Errorf("issuing a client certificate: no common name")
	}
	return ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName, Organization: []string{"kubernaut"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, now, validity)
}

// issue completes template as a leaf certificate (serial, validity, key usage)
// and signs it with a new key.
func (ca *KeyPair) issue(template *x509.Certificate, now time.Time, validity time.Duration) (*KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the key of %q: %w", template.Subject.CommonName, err)
	}
	if template.SerialNumber, err = serialNumber(); err != nil {
		return nil, err
	}
	template.NotBefore = now.Add(-backdate)
	template.NotAfter = now.Add(validity)
	if template.NotAfter.After(ca.Cert.NotAfter) {
		template.NotAfter = ca.Cert.NotAfter
	}
	template.KeyUsage = x509.KeyUsageDigitalSignature
	template.BasicConstraintsValid = true
	return sign(template, ca.Cert, key, ca.Key)
}

// sign creates the certificate template describes, for key's public half,
// signed by parent's key, and encodes it.
func sign(template, parent *x509.Certificate, key *ecdsa.PrivateKey, parentKey crypto.Signer) (*KeyPair, error) {
	der, err := x509.CreateCertificate(rand.Reader, template, parent, key.Public(), parentKey)
	if err != nil {
		return nil, fmt.Errorf("signing certificate %q: %w", template.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing certificate %q: %w", template.Subject.CommonName, err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &KeyPair{Cert: cert, Key: key, CertPEM: pemcert.Encode(cert), KeyPEM: keyPEM}, nil
}

// serialNumber returns a random 128-bit serial number.
func serialNumber() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generating a serial number: %w", err)
	}
	return serial, nil
}

// encodeKey returns key as a PKCS #8 PEM block.
func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding a private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
