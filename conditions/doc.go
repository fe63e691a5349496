// Package conditions compiles and evaluates the Rego policies behind pre- and
// postconditions. It is the only package that imports OPA: webhooks and reconcilers
// compile a condition's Rego with an Engine, evaluate it against a document of
// cluster facts, and get a Result with an outcome, a reason and a message.
//
// Each policy is compiled on its own, in a sandbox without network or runtime
// built-ins, and queried at data.<its package>.allow. Compiled policies are cached by
// the hash of their text, so a condition written into a thousand workflows is
// compiled once.
package conditions
