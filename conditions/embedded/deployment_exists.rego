package precondition.scale_deployment
import future.keywords.if

allow if {
  input.deployment_found == true
}

error_message := msg if {
  not input.deployment_found
  msg := sprintf("Deployment %s not found in namespace %s",
                 [input.deployment_name, input.namespace])
}
