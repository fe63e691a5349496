package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNewWebhookServerFlags checks that a bad --webhook-client-ca or
// --webhook-client-cn stops the manager with an error naming the flag.
func TestNewWebhookServerFlags(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		o       options
		wantErr string
	}{
		{"no client authentication", options{webhookPort: 9443}, ""},
		{"a CommonName without a CA", options{webhookClientCN: "kube-apiserver"}, "--webhook-client-cn needs --webhook-client-ca"},
		{"a CA file that is missing", options{webhookClientCA: filepath.Join(t.TempDir(), "missing.crt")}, "--webhook-client-ca: reading the client CA"},
		{"a CA file without a certificate", options{webhookClientCA: notPEM}, "--webhook-client-ca: client CA file"},
	} {
		s, err := newWebhookServer(tc.o)
		switch {
		case tc.wantErr == "" && (err != nil || s == nil):
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want one with %q", tc.name, err, tc.wantErr)
		}
	}
}

func TestNamespaceList(t *testing.T) {
	got, err := namespaceList(" payments, ,ledger ")
	if err != nil || len(got) != 2 || got[0] != "payments" || got[1] != "ledger" {
		t.Fatalf("namespaceList = %v, %v; want [payments ledger]", got, err)
	}
	if got, err := namespaceList(""); err != nil || got != nil {
		t.Fatalf("an empty list = %v, %v; want none", got, err)
	}
	if _, err := namespaceList("payments,Not_A_Namespace"); err == nil || !strings.Contains(err.Error(), `"Not_A_Namespace" is not a namespace name`) {
		t.Fatalf("err = %v, want one naming the bad name", err)
	}
}
