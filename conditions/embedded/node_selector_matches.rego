package condition.scale_deployment
import future.keywords.if

allow if {
  input.matching_nodes > 0
  input.ready_nodes > 0
}
