# Where pod specs and containers live in the kinds we deploy.
package platform

pod_template_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}

pod_spec(obj) := obj.spec if obj.kind == "Pod"

pod_spec(obj) := obj.spec.template.spec if obj.kind in pod_template_kinds

pod_spec(obj) := obj.spec.jobTemplate.spec.template.spec if obj.kind == "CronJob"

# Every container of every pod spec: {"index", "c", "pod", "spark"}.
containers contains {"index": item.index, "c": c, "pod": spec, "spark": false} if {
	some item in input.objects
	spec := pod_spec(item.object)
	some field in ["initContainers", "containers"]
	some c in object.get(spec, field, [])
}

# The driver and executors of a SparkApplication behave like containers of our own.
spark_app_spec(obj) := obj.spec if obj.kind == "SparkApplication"

spark_app_spec(obj) := obj.spec.template if obj.kind == "ScheduledSparkApplication"

containers contains {"index": item.index, "c": c, "pod": pod, "spark": true} if {
	some item in input.objects
	spec := spark_app_spec(item.object)
	some role in ["driver", "executor"]
	role_spec := object.get(spec, role, {})
	c := {
		"name": role,
		"image": object.get(role_spec, "image", object.get(spec, "image", "")),
		"securityContext": object.get(role_spec, "securityContext", {}),
		"role": role_spec,
	}
	pod := {"securityContext": object.get(role_spec, "podSecurityContext", {})}
}

violation(x, rule, msg, hint) := {
	"index": x.index,
	"rule": rule,
	"container": x.c.name,
	"msg": msg,
	"hint": hint,
}

object_violation(item, rule, msg, hint) := {
	"index": item.index,
	"rule": rule,
	"container": "",
	"msg": msg,
	"hint": hint,
}
