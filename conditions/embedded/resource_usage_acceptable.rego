package condition.scale_deployment
import future.keywords.if

allow if {
  throttled_pods := [p | p := input.pods[_]; p.throttled == true]
  oom_killed_pods := [p | p := input.pods[_]; p.oom_killed == true]

  count(throttled_pods) == 0
  count(oom_killed_pods) == 0
}
