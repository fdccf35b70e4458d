# Ownership labels: who runs it, what it is part of (cost reports and alerts route on these).
package platform

violations contains v if {
	some item in input.objects
	item.object.kind != "CustomResourceDefinition"
	some key in input.config.requiredLabels
	object.get(item.object, ["metadata", "labels", key], "") == ""
	v := object_violation(item, "required-labels", sprintf("label %q is missing", [key]),
		sprintf("add labels %v (a `labels:` block in the kustomization does it for all objects)", [input.config.requiredLabels]))
}
