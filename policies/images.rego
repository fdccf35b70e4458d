# Images: pinned, and only from the registries this cluster allows.
package platform

images contains {"index": x.index, "c": x.c, "image": x.c.image} if {
	some x in containers
	x.c.image != ""
}

last_segment(image) := segments[count(segments) - 1] if segments := split(image, "/")

image_pinned(image) if contains(image, "@sha256:")

image_pinned(image) if {
	parts := split(last_segment(image), ":")
	count(parts) == 2
	not parts[1] in {"", "latest"}
}

violations contains v if {
	some x in images
	not image_pinned(x.image)
	v := violation(x, "image-pinned", sprintf("image %q is not pinned to a version", [x.image]),
		"use an immutable tag (a release or git SHA) or a digest, never :latest or no tag")
}

# Docker Hub images may be written without a registry; compare their full name.
first_segment_is_registry(image) if {
	first := split(image, "/")[0]
	count(split(image, "/")) > 1
	regex.match(`[.:]|^localhost$`, first)
}

full_image_name(image) := image if first_segment_is_registry(image)

full_image_name(image) := concat("", ["docker.io/", image]) if {
	not first_segment_is_registry(image)
	count(split(image, "/")) > 1
}

full_image_name(image) := concat("", ["docker.io/library/", image]) if {
	not first_segment_is_registry(image)
	count(split(image, "/")) == 1
}

registry_allowed(image) if {
	some prefix in input.config.allowedRegistries
	startswith(full_image_name(image), prefix)
}

violations contains v if {
	some x in images
	not registry_allowed(x.image)
	v := violation(x, "image-registry-allowed",
		sprintf("image %q is not from a registry allowed in cluster %s", [full_image_name(x.image), input.cluster]),
		sprintf("mirror it into an allowed registry or add the prefix to policies/config/%s.yaml", [input.cluster]))
}
