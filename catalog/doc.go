// Package catalog defines the remediation actions. An action is one Go value
// (Action), registered once from its own file (scale_deployment.go,
// cordon_node.go, ...), that tells its whole story:
//
//   - what it is: its Name and Description, the schema of its Parameters
//     (schema.go validates them) and its Target, the object one parameter names;
//   - who it acts as: its own ServiceAccount (identity.go), bound to a ClusterRole
//     of its Permissions (hack/actionrbac renders config/rbac/actions.yaml);
//   - how it is checked: the pre- and postconditions it suggests at the step and
//     at the action level, whose policies are in conditions/embedded; the Facts
//     those policies read, each with its meaning, and the Provider that reads them
//     from the cluster; its Safety target, what the safety policies are told it
//     changes;
//   - what it does: its Executor, Capture (records the before values) then Act,
//     run as its ServiceAccount;
//   - how it is undone: its Inverse, built from the parameters and the before
//     values.
//
// What a group of actions shares lives in workloads.go, pods.go and nodes.go;
// params.go is the one reader of parameters, for the target, the facts, the
// executor and the inverse alike; executor.go holds what every executor needs.
//
// The rest of the project iterates the registry (Lookup, Names): the webhooks
// validate parameters and inject the suggested conditions; the reconcilers check the
// ServiceAccount's permissions, run the executor and record the inverse;
// conditions/facts gathers the facts and builds the safety input; the CLI and the
// generators in hack/ render the catalog. Adding an action is one file here, its
// policies in conditions/embedded, and their tests.
package catalog
