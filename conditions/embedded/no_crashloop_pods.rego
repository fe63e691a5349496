package condition.scale_deployment
import future.keywords.if

allow if {
  crashloop_pods := [p | p := input.pods[_]; p.status == "CrashLoopBackOff"]
  count(crashloop_pods) == 0
}
