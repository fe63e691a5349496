package condition.scale_deployment
import future.keywords.if
import future.keywords.in

# No pod of the workload was OOMKilled or is throttled, and the throttling of every
# pod is known. A pod's throttled is absent when it cannot be known (the manager has
# no Prometheus, the query failed, Prometheus has no CFS counters for it yet): the
# check then fails and says so, rather than passing on a throttling nobody measured.

allow if {
	is_array(input.pods)
	count(oom_killed) == 0
	count(throttled) == 0
	count(unknown) == 0
}

oom_killed := [p.name | some p in input.pods; p.oom_killed == true]

throttled := [p.name | some p in input.pods; p.throttled == true]

unknown := [p.name | some p in input.pods; not "throttled" in object.keys(p)]

# names lists at most five pod names, and how many more there are.
names(list) := concat(", ", list) if count(list) <= 5

names(list) := sprintf("%s and %d more", [concat(", ", array.slice(list, 0, 5)), count(list) - 5]) if count(list) > 5

threshold := sprintf("%v%%", [round(object.get(input, ["throttling", "threshold"], 0) * 100)])

window := object.get(input, ["throttling", "window"], "the window")

problems := array.concat(
	array.concat(
		[sprintf("pods %s were OOMKilled", [names(oom_killed)]) | count(oom_killed) > 0],
		[sprintf("pods %s are CPU-throttled (more than %s of their CFS periods over %s)", [names(throttled), threshold, window]) | count(throttled) > 0],
	),
	[sprintf("throttling of pods %s is not known: %s", [names(unknown), object.get(input, ["throttling", "reason"], "no source of CPU throttling reported it")]) | count(unknown) > 0],
)

error_message := concat("; ", problems) if count(problems) > 0
