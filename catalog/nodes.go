package catalog

// nodeActions are the node actions of the catalog.
var nodeActions = []*Action{}

// nodeFacts describes the facts the node actions add to the glossary.
var nodeFacts = map[string]string{}
