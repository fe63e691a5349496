package precondition.scale_deployment
import future.keywords.if

allow if {
  input.current_replicas == input.expected_baseline
}
