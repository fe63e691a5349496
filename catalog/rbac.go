package catalog

// The facts providers read these through the manager's cache (list and watch) or, for
// Secrets and ConfigMaps outside the manager's namespace, one at a time with get.
//
// +kubebuilder:rbac:groups="",resources=pods;nodes;services;persistentvolumeclaims;events;namespaces,verbs=get;list;watch
//
// ConfigMaps: get anywhere, for update_configmap's target, read one at a time and
// only once its requester may get it; list and watch only in the manager's own
// namespace, for the policy library (a Role there).
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=list;watch,namespace=kubernaut-system
//
// Secrets: get, never list or watch, and never their data into facts: the image
// pull secret checks of the deployment actions read only the Secrets the target's
// pod template names, in its namespace, once its requester may act on it, and keep
// whether each exists and is of a pull-secret type with data.
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups=apps,resources=deployments;replicasets;statefulsets;daemonsets,verbs=get;list;watch
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch
//
// The pods' CPU and memory usage (the Metrics API has no watch: read around the cache).
// +kubebuilder:rbac:groups=metrics.k8s.io,resources=pods,verbs=get;list
// +kubebuilder:rbac:groups=storage.k8s.io,resources=storageclasses,verbs=get;list;watch
