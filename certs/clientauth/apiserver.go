package clientauth

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"kubernaut.io/stepvalidation/certs/ca"
)

// APIServerCommonName is the CommonName of the client certificate the local
// cluster's and the test harness's kube-apiserver presents to webhooks, the
// --webhook-client-cn the manager is run with there.
const APIServerCommonName = "kube-apiserver-webhook-client"

// APIServerFiles are what WriteAPIServerFiles writes.
type APIServerFiles struct {
	// CA is the PEM certificate of the CA that signed the client certificate:
	// the manager's --webhook-client-ca. Its key is not kept, so nobody can
	// issue another certificate it trusts.
	CA string
	// Kubeconfig names the client certificate and key (inline) for every webhook
	// (user "*"), as the admission plugins read it.
	Kubeconfig string
	// AdmissionConfig is an AdmissionConfiguration that points the validating
	// and mutating admission webhook plugins at Kubeconfig: kube-apiserver's
	// --admission-control-config-file.
	AdmissionConfig string
}

// AdmissionConfigFlag is the kube-apiserver flag that takes
// APIServerFiles.AdmissionConfig (without the leading dashes).
const AdmissionConfigFlag = "admission-control-config-file"

// WriteAPIServerFiles makes a CA and a client certificate for commonName
// signed by it, both valid for validity, and writes into dir (created if
// needed) the files that make kube-apiserver present that certificate to every
// admission webhook it calls ("Authenticate apiservers" in the Kubernetes
// documentation of dynamic admission control).
func WriteAPIServerFiles(dir, commonName string, validity time.Duration) (APIServerFiles, error) {
	now := time.Now()
	signer, err := ca.New(now, validity)
	if err != nil {
		return APIServerFiles{}, err
	}
	client, err := signer.IssueClient(commonName, now, validity)
	if err != nil {
		return APIServerFiles{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return APIServerFiles{}, fmt.Errorf("creating %s: %w", dir, err)
	}
	files := APIServerFiles{
		CA:              filepath.Join(dir, "webhook-client-ca.crt"),
		Kubeconfig:      filepath.Join(dir, "webhook-client.kubeconfig"),
		AdmissionConfig: filepath.Join(dir, "admission-configuration.yaml"),
	}
	if err := os.WriteFile(files.CA, signer.CertPEM, 0o644); err != nil {
		return APIServerFiles{}, fmt.Errorf("writing the webhook client CA: %w", err)
	}
	// The admission plugins pick the user whose name matches the webhook's
	// host:port (or Service name.namespace.svc:port); "*" matches every webhook.
	kubeconfig := clientcmdapi.NewConfig()
	kubeconfig.AuthInfos["*"] = &clientcmdapi.AuthInfo{ClientCertificateData: client.CertPEM, ClientKeyData: client.KeyPEM}
	if err := clientcmd.WriteToFile(*kubeconfig, files.Kubeconfig); err != nil {
		return APIServerFiles{}, fmt.Errorf("writing the webhook client kubeconfig: %w", err)
	}
	var admission strings.Builder
	admission.WriteString("apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n")
	for _, plugin := range []string{"ValidatingAdmissionWebhook", "MutatingAdmissionWebhook"} {
		fmt.Fprintf(&admission, "- name: %s\n  configuration:\n    apiVersion: apiserver.config.k8s.io/v1\n"+
			"    kind: WebhookAdmissionConfiguration\n    kubeConfigFile: %q\n", plugin, files.Kubeconfig)
	}
	if err := os.WriteFile(files.AdmissionConfig, []byte(admission.String()), 0o600); err != nil {
		return APIServerFiles{}, fmt.Errorf("writing the admission configuration: %w", err)
	}
	return files, nil
}
