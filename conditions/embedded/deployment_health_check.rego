package postcondition.scale_deployment
import future.keywords.if

allow if {
  input.conditions.Available == true
  input.conditions.Progressing == true
  input.conditions.ReplicaFailure == false
}
