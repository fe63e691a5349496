// Package runview draws a WorkflowExecution and its KubernetesExecutions as a tree
// for a terminal: the phase and why, each step with its state, duration and
// attempts, the results of its pre- and postconditions, the execution under it,
// and the approvals and overrides with who and why.
//
// It is pure: it reads the objects it is given and a clock passed in, and writes
// text. The CLI (kubernaut get wfe) fetches the objects and decides on colour.
package runview
