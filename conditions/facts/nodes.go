package facts

// nodeProviders read the facts of the node actions of the catalog.
var nodeProviders = map[string]Provider{}
