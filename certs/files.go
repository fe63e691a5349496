package certs

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"kubernaut.io/stepvalidation/certs/pemcert"
)

// The files of the certificate folder. CertFile and KeyFile are the names
// controller-runtime's webhook server reads by default.
const (
	// CAFile is the trust bundle, the caBundle the Rotator wants: the current CA
	// first, then the CA it replaced while a rotation is recent.
	CAFile = "ca.crt"
	// CAKeyFile is the private key of the current CA.
	CAKeyFile = "ca.key"
	// CertFile is the serving certificate.
	CertFile = "tls.crt"
	// KeyFile is the private key of the serving certificate.
	KeyFile = "tls.key"
)

// onDisk is what the certificate folder holds. A part that is missing or does
// not parse is nil, and problems says why.
type onDisk struct {
	bundle []*x509.Certificate // CAFile
	caKey  crypto.Signer       // CAKeyFile
	cert   *x509.Certificate   // CertFile, its first certificate
	key    crypto.Signer       // KeyFile

	raw      map[string][]byte // file contents as read
	problems map[string]error  // by file name
}

// load reads the certificate folder. It never fails: what cannot be read is a
// problem the rotation policy answers by making a new one.
func load(dir string) *onDisk {
	d := &onDisk{raw: map[string][]byte{}, problems: map[string]error{}}
	read := func(name string) []byte {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			d.problems[name] = err
			return nil
		}
		d.raw[name] = data
		return data
	}
	if data := read(CAFile); data != nil {
		certs, err := pemcert.Parse(data)
		if err == nil && len(certs) == 0 {
			err = errors.New("no certificate")
		}
		if err != nil {
			d.problems[CAFile] = err
		} else {
			d.bundle = certs
		}
	}
	if data := read(CertFile); data != nil {
		certs, err := pemcert.Parse(data)
		if err == nil && len(certs) == 0 {
			err = errors.New("no certificate")
		}
		if err != nil {
			d.problems[CertFile] = err
		} else {
			d.cert = certs[0]
		}
	}
	for name, key := range map[string]*crypto.Signer{CAKeyFile: &d.caKey, KeyFile: &d.key} {
		if data := read(name); data != nil {
			var err error
			if *key, err = parseKey(data); err != nil {
				d.problems[name] = err
			}
		}
	}
	return d
}

// problem returns why name is unusable, as the rotation policy reports it.
func (d *onDisk) problem(name string) string {
	err := d.problems[name]
	switch {
	case err == nil:
		return name + " is unusable"
	case errors.Is(err, os.ErrNotExist):
		return name + " is missing"
	default:
		return fmt.Sprintf("%s is unusable: %v", name, err)
	}
}

// certSet is what the Rotator wants in the certificate folder.
type certSet struct {
	bundle  []*x509.Certificate // CAFile; bundle[0] is ca.Cert
	ca      *KeyPair
	serving *KeyPair
}

// fileContent is one file to write.
type fileContent struct {
	name string
	data []byte
	mode os.FileMode
}

// files returns s's files in the order they must be written: the trust bundle
// and the CA before the serving pair, and the serving key before its
// certificate. The webhook server's certwatcher reloads when tls.crt or tls.key
// changes; a pair it reads half-written does not match, and it keeps serving the
// previous certificate until the other half lands.
func (s *certSet) files() []fileContent {
	return []fileContent{
		{CAFile, pemcert.Encode(s.bundle...), 0o644},
		{CAKeyFile, s.ca.KeyPEM, 0o600},
		{KeyFile, s.serving.KeyPEM, 0o600},
		{CertFile, s.serving.CertPEM, 0o644},
	}
}

// writeFiles writes files into dir in order, skipping those whose content is
// what current holds. Each file is replaced atomically: written to a temporary
// file in dir, then renamed over the old one, so a reader never sees half a file.
func writeFiles(dir string, current map[string][]byte, files []fileContent) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the certificate folder: %w", err)
	}
	for _, f := range files {
		if old, ok := current[f.name]; ok && bytes.Equal(old, f.data) {
			continue
		}
		if err := writeAtomically(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// writeAtomically replaces path with data.
func writeAtomically(path string, data []byte, mode os.FileMode) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
