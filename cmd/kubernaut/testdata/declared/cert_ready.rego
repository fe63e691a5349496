# A precondition on an object the condition declares:
#   objects: [{key: cert, apiVersion: cert-manager.io/v1, kind: Certificate, name: '{{name}}-tls'}]
package precondition.cert_ready

import rego.v1

allow if {
	some c in input.objects.cert.status.conditions
	c.type == "Ready"
	c.status == "True"
}

error_message := sprintf("Certificate %s is not Ready", [input.objects.cert.metadata.name]) if not allow
