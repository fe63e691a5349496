package precondition.scale_deployment
import future.keywords.if

allow if {
  cpu_available_millicores := parse_cpu(input.available_cpu)
  cpu_needed_millicores := parse_cpu(input.required_cpu_per_pod) * input.additional_replicas

  memory_available_bytes := parse_memory(input.available_memory)
  memory_needed_bytes := parse_memory(input.required_memory_per_pod) * input.additional_replicas

  cpu_available_millicores >= cpu_needed_millicores
  memory_available_bytes >= memory_needed_bytes
}

parse_cpu(cpu_string) := millicores if {
  endswith(cpu_string, "m")
  millicores := to_number(trim_suffix(cpu_string, "m"))
} else := millicores if {
  cores := to_number(cpu_string)
  millicores := cores * 1000
}

parse_memory(mem_string) := bytes if {
  endswith(mem_string, "Gi")
  gibibytes := to_number(trim_suffix(mem_string, "Gi"))
  bytes := gibibytes * 1073741824
} else := bytes if {
  endswith(mem_string, "Mi")
  mebibytes := to_number(trim_suffix(mem_string, "Mi"))
  bytes := mebibytes * 1048576
}
