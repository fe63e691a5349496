package catalog

// The objects the actions change, by the parameter that names them.
var (
	deploymentTarget  = &Target{Param: "deployment", Kind: "Deployment", Group: "apps", Resource: "deployments"}
	statefulSetTarget = &Target{Param: "statefulset", Kind: "StatefulSet", Group: "apps", Resource: "statefulsets"}
	daemonSetTarget   = &Target{Param: "daemonset", Kind: "DaemonSet", Group: "apps", Resource: "daemonsets"}
	hpaTarget         = &Target{Param: "hpa", Kind: "HorizontalPodAutoscaler", Group: "autoscaling", Resource: "horizontalpodautoscalers"}
	configMapTarget   = &Target{Param: "configmap", Kind: "ConfigMap", Resource: "configmaps"}
	podTarget         = &Target{Param: "pod", Kind: "Pod", Resource: "pods"}
	pvcTarget         = &Target{Param: "pvc", Kind: "PersistentVolumeClaim", Resource: "persistentvolumeclaims"}
	nodeTarget        = &Target{Param: "node", Kind: "Node", Resource: "nodes", ClusterScoped: true}
)
