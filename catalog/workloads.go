package catalog

// workloadActions are the workload actions of the catalog.
var workloadActions = []*Action{}

// workloadFacts describes the facts the workload actions add to the glossary.
var workloadFacts = map[string]string{}
