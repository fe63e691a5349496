package facts

// podProviders read the facts of the pod actions of the catalog.
var podProviders = map[string]Provider{}
