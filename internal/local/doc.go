// Package local runs the project on a local cluster, for `make demo` and
// `kubernaut local up|down|demo`: etcd and kube-apiserver (through envtest),
// kube-controller-manager, kube-scheduler and kwok with three fake nodes, all built
// from source into bin/ by hack/tools.sh, and the manager built from cmd/manager
// with its admission webhooks and self-signed certificates. Up installs the CRDs,
// the RBAC of the actions, the policy library's ConfigMaps and a sample workload;
// Demo runs two workflows on it and shows their conditions as they are evaluated;
// Down stops every process.
//
// The processes outlive the process that started them unless Options.Attached is
// set: what they are, their logs, the kubeconfig and the ports are recorded in a
// state folder (default .kubernaut-local/ at the top of the repository), which is
// how Down, in another process, finds them.
package local
