package facts

// workloadProviders read the facts of the workload actions of the catalog.
var workloadProviders = map[string]Provider{}
