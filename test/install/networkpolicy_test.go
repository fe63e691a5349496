package install_test

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestRenderNetworkPolicy checks the manager's NetworkPolicy (security
// invariant 9): it selects the manager's pods, admits the webhook port only from
// an IP range (the API server's, a setting), and leaves metrics and probes open
// to any source as they were without it.
func TestRenderNetworkPolicy(t *testing.T) {
	objs := parse(t, render(t))
	np := objs.get(t, "NetworkPolicy", managerName)
	d := objs.get(t, "Deployment", managerName)

	podLabels, _, _ := unstructured.NestedStringMap(d.Object, "spec", "template", "metadata", "labels")
	selector, _, _ := unstructured.NestedStringMap(np.Object, "spec", "podSelector", "matchLabels")
	if len(selector) == 0 {
		t.Error("the NetworkPolicy selects by no label")
	}
	for k, v := range selector {
		if podLabels[k] != v {
			t.Errorf("NetworkPolicy podSelector %s=%s does not select the manager's pods", k, v)
		}
	}
	if types := slice(t, np, "spec", "policyTypes"); !slices.Contains(types, any("Ingress")) {
		t.Errorf("policyTypes %v lack Ingress", types)
	}

	// The container's named ports, for the policy's port names.
	containerPorts := map[string]int64{}
	containers := slice(t, d, "spec", "template", "spec", "containers")
	for _, p := range slice(t, &unstructured.Unstructured{Object: asMap(t, containers[0])}, "ports") {
		n, _, _ := unstructured.NestedInt64(asMap(t, p), "containerPort")
		containerPorts[fmt.Sprint(asMap(t, p)["name"])] = n
	}
	const webhook, metrics, health = int64(9443), int64(8443), int64(8081)

	fromAnywhere := map[int64]bool{}
	fromRange := map[int64][]string{}
	for i, r := range slice(t, np, "spec", "ingress") {
		rule := &unstructured.Unstructured{Object: asMap(t, r)}
		var ports []int64
		for _, p := range slice(t, rule, "ports") {
			port := asMap(t, p)["port"]
			switch v := port.(type) {
			case string:
				n, ok := containerPorts[v]
				if !ok {
					t.Errorf("ingress/%d names port %q, which the manager's container does not have", i, v)
				}
				ports = append(ports, n)
			case int64:
				ports = append(ports, v)
			default:
				t.Errorf("ingress/%d port %v (%T)", i, port, port)
			}
		}
		if len(ports) == 0 {
			t.Errorf("ingress/%d admits every port", i)
		}
		from := slice(t, rule, "from")
		for _, port := range ports {
			if len(from) == 0 {
				fromAnywhere[port] = true
			}
		}
		for _, f := range from {
			peer := asMap(t, f)
			cidr, _, _ := unstructured.NestedString(peer, "ipBlock", "cidr")
			if len(peer) != 1 || cidr == "" {
				t.Errorf("ingress/%d admits %v: only an ipBlock of the API server's range is meant", i, peer)
				continue
			}
			if prefix, err := netip.ParsePrefix(cidr); err != nil || prefix.Bits() == 0 {
				t.Errorf("ingress/%d ipBlock %q is not a range that excludes anything", i, cidr)
			}
			for _, port := range ports {
				fromRange[port] = append(fromRange[port], cidr)
			}
		}
	}
	if containerPorts["webhook-server"] != webhook {
		t.Errorf("container port webhook-server %d, want %d", containerPorts["webhook-server"], webhook)
	}
	if fromAnywhere[webhook] || len(fromRange[webhook]) == 0 {
		t.Errorf("webhook port %d: from any source %v, from ranges %v; want only from the API server's range", webhook, fromAnywhere[webhook], fromRange[webhook])
	}
	for _, port := range []int64{metrics, health} {
		if !fromAnywhere[port] {
			t.Errorf("port %d is not reachable from any source, as it was without the policy", port)
		}
	}
}
