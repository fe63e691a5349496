package condition.scale_deployment
import future.keywords.if

allow if {
  input.image_pull_secrets_exist == true
  input.image_pull_secrets_valid == true
}
