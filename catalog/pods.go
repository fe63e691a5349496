package catalog

// podActions are the pod actions of the catalog.
var podActions = []*Action{}

// podFacts describes the facts the pod actions add to the glossary.
var podFacts = map[string]string{}
