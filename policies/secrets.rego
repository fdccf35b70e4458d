# Secret values never live in git: they come from External Secrets (NHN Cloud Secure Key Manager).
package platform

violations contains v if {
	some item in input.objects
	item.object.kind == "Secret"
	count(object.get(item.object, "data", {})) + count(object.get(item.object, "stringData", {})) > 0
	v := object_violation(item, "no-plaintext-secret",
		"a Secret with data is committed (base64 is not encryption)",
		"remove it and declare an ExternalSecret that reads the value from the secret store")
}
