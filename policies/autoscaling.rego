# A workload under an HPA must not carry replicas in git, or Argo CD and the HPA fight over it
# (argoproj/argo-cd #5105): the HPA owns the count, Argo CD ignores it.
package platform

violations contains v if {
	some hpa in input.objects
	hpa.object.kind == "HorizontalPodAutoscaler"
	ref := hpa.object.spec.scaleTargetRef
	some item in input.objects
	item.object.kind == ref.kind
	item.object.metadata.name == ref.name
	object.get(item.object.metadata, "namespace", "") == object.get(hpa.object.metadata, "namespace", "")
	"replicas" in object.keys(object.get(item.object, "spec", {}))
	v := object_violation(item, "hpa-target-no-replicas",
		sprintf("sets spec.replicas but HorizontalPodAutoscaler %s scales it", [hpa.object.metadata.name]),
		"remove spec.replicas (set minReplicas on the HPA) and ignore /spec/replicas in the Argo CD Application")
}
