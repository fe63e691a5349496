package postcondition.scale_deployment
import future.keywords.if

allow if {
  input.running_pods >= input.target_replicas
  input.ready_pods >= input.target_replicas
}
