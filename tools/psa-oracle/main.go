// psa-oracle evaluates rendered Kubernetes objects with Kubernetes' own Pod Security admission
// checks (k8s.io/pod-security-admission, pinned in go.mod to the staging version of the API server
// NKS prod runs) so the static gate can compare its Rego verdicts with the real implementation.
//
// `psa-oracle --checks` lists the module's checks instead.
//
// Input: one or more JSON files (or stdin when no file is given). Each holds either a JSON array of
// objects, or {"objects": [...]} whose items are objects or {"index": N, "object": {...}} (the
// gate's OPA input). Output on stdout, JSON:
//
//	{"psaModule": "...", "results": [{"index", "kind", "namespace", "name", "pod", "level",
//	  "version", "allowed", "checks": [{"id", "reason", "detail"}], "error"}]}
//
// One result per pod an object yields: Pods (and the pod templates the gate extracts from
// ConfigMaps, which reach us as Pods), Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs,
// CronJobs, ReplicationControllers, PodTemplates, and SparkApplication / ScheduledSparkApplication
// driver and executor specs mapped to the pods the Spark operator creates (see sparkPod).
//
// The level is the namespace's `pod-security.kubernetes.io/enforce` label (and -version) on the
// Namespace objects in the same input. A namespace that is not in the input, or has no label, is
// evaluated at restricted/latest (the gate assumes the strictest level); an invalid label falls
// back to restricted/latest, as the admission plugin does.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

const psaModule = "k8s.io/pod-security-admission"

type item struct {
	Index  int
	Object map[string]any
}

type checkOut struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

type result struct {
	Index     int        `json:"index"`
	Kind      string     `json:"kind"`
	Namespace string     `json:"namespace"`
	Name      string     `json:"name"`
	Pod       string     `json:"pod"`
	Level     string     `json:"level"`
	Version   string     `json:"version"`
	Allowed   bool       `json:"allowed"`
	Checks    []checkOut `json:"checks"`
	Error     string     `json:"error,omitempty"`
}

type output struct {
	PSAModule string   `json:"psaModule"`
	Results   []result `json:"results"`
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == "--checks" {
		listChecks()
		return
	}
	items, err := readInputs(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "psa-oracle: %v\n", err)
		os.Exit(2)
	}
	o, err := newOracle()
	if err != nil {
		fmt.Fprintf(os.Stderr, "psa-oracle: %v\n", err)
		os.Exit(2)
	}
	out := output{PSAModule: psaModule + "@" + moduleVersion(), Results: []result{}}
	policies := namespacePolicies(items)
	for _, it := range items {
		pods, err := podsOf(it.Object)
		meta := metaOf(it.Object)
		ns := str(meta["namespace"])
		base := result{Index: it.Index, Kind: str(it.Object["kind"]), Namespace: ns, Name: str(meta["name"])}
		if err != nil {
			r := base
			r.Error = err.Error()
			out.Results = append(out.Results, r)
			continue
		}
		lv := policies.forNamespace(ns)
		for _, p := range pods {
			r := base
			r.Pod = p.role
			r.Level, r.Version = string(lv.Level), lv.Version.String()
			checks, err := o.evaluate(lv, p.tmpl)
			if err != nil {
				r.Error = err.Error()
			} else {
				r.Checks = checks
				r.Allowed = len(checks) == 0
			}
			out.Results = append(out.Results, r)
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintf(os.Stderr, "psa-oracle: %v\n", err)
		os.Exit(2)
	}
}

// listChecks prints the checks of the pinned module ({"id", "level"}), so tests can prove that the
// Rego rules cover every one of them.
func listChecks() {
	var out []map[string]string
	for _, c := range policy.DefaultChecks() {
		out = append(out, map[string]string{"id": string(c.ID), "level": string(c.Level)})
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintf(os.Stderr, "psa-oracle: %v\n", err)
		os.Exit(2)
	}
}

func moduleVersion() string {
	if v := readBuildVersion(psaModule); v != "" {
		return v
	}
	return "(unknown)"
}

// readInputs parses every file (or stdin) into indexed objects. Plain objects get their position
// in the input as index.
func readInputs(files []string) ([]item, error) {
	var readers []func() ([]byte, string, error)
	if len(files) == 0 {
		readers = append(readers, func() ([]byte, string, error) { b, err := io.ReadAll(os.Stdin); return b, "stdin", err })
	}
	for _, f := range files {
		f := f
		readers = append(readers, func() ([]byte, string, error) { b, err := os.ReadFile(f); return b, f, err })
	}
	var items []item
	for _, read := range readers {
		data, where, err := read()
		if err != nil {
			return nil, err
		}
		var doc any
		if err := json.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("%s: not JSON: %v", where, err)
		}
		var list []any
		switch d := doc.(type) {
		case []any:
			list = d
		case map[string]any:
			if objs, ok := d["objects"].([]any); ok {
				list = objs
			} else if objs, ok := d["items"].([]any); ok && d["kind"] == "List" {
				list = objs
			} else {
				list = []any{d}
			}
		default:
			return nil, fmt.Errorf("%s: expected a JSON array or object", where)
		}
		for _, entry := range list {
			m, ok := entry.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: item %d is not an object", where, len(items))
			}
			if obj, ok := m["object"].(map[string]any); ok {
				idx, ok := m["index"].(float64)
				if !ok {
					return nil, fmt.Errorf("%s: wrapped item without a numeric index", where)
				}
				items = append(items, item{int(idx), obj})
			} else {
				items = append(items, item{len(items), m})
			}
		}
	}
	return items, nil
}

// ---- namespaces and levels ----

type nsPolicies map[string]map[string]string

func namespacePolicies(items []item) nsPolicies {
	p := nsPolicies{}
	for _, it := range items {
		if it.Object["kind"] != "Namespace" {
			continue
		}
		meta := metaOf(it.Object)
		labels := map[string]string{}
		if l, ok := meta["labels"].(map[string]any); ok {
			for k, v := range l {
				labels[k] = str(v)
			}
		}
		p[str(meta["name"])] = labels
	}
	return p
}

var strictest = api.LevelVersion{Level: api.LevelRestricted, Version: api.LatestVersion()}

func (p nsPolicies) forNamespace(ns string) api.LevelVersion {
	labels, ok := p[ns]
	if !ok {
		return strictest
	}
	defaults := api.Policy{Enforce: strictest, Audit: strictest, Warn: strictest}
	pol, errs := api.PolicyToEvaluate(labels, defaults)
	if len(errs) > 0 {
		// the admission plugin fails closed on an invalid enforce label
		return strictest
	}
	return pol.Enforce
}

// ---- evaluation ----

type oracle struct {
	all     policy.Evaluator
	checks  []policy.Check
	singles map[policy.CheckID]policy.Evaluator
}

func newOracle() (*oracle, error) {
	checks := policy.DefaultChecks()
	all, err := policy.NewEvaluator(checks)
	if err != nil {
		return nil, err
	}
	o := &oracle{all: all, checks: checks, singles: map[policy.CheckID]policy.Evaluator{}}
	for _, c := range checks {
		e, err := policy.NewEvaluator([]policy.Check{c})
		if err != nil {
			return nil, err
		}
		o.singles[c.ID] = e
	}
	return o, nil
}

// versionedAt is the revision of a check that applies at version v (nil: the check is newer).
func versionedAt(c policy.Check, v api.Version) *policy.VersionedCheck {
	var found *policy.VersionedCheck
	for i := range c.Versions {
		if v.Latest() || !v.Older(c.Versions[i].MinimumVersion) {
			found = &c.Versions[i]
		}
	}
	return found
}

// evaluate returns the forbidden checks, by ID. Kubernetes' evaluator does not name the check
// behind each result, so each check also runs on its own; the named results must be exactly the
// full evaluator's results, or the attribution is wrong and evaluation fails.
func (o *oracle) evaluate(lv api.LevelVersion, tmpl *corev1.PodTemplateSpec) ([]checkOut, error) {
	full := policy.AggregateCheckResults(o.all.EvaluatePod(lv, &tmpl.ObjectMeta, &tmpl.Spec))
	if lv.Level == api.LevelPrivileged {
		if !full.Allowed {
			return nil, errors.New("privileged level forbade a pod")
		}
		return []checkOut{}, nil
	}
	overridden := map[policy.CheckID]bool{}
	if lv.Level == api.LevelRestricted {
		for _, c := range o.checks {
			if c.Level != api.LevelRestricted {
				continue
			}
			if vc := versionedAt(c, lv.Version); vc != nil {
				for _, id := range vc.OverrideCheckIDs {
					overridden[id] = true
				}
			}
		}
	}
	var named []checkOut
	for _, c := range o.checks {
		if c.Level == api.LevelRestricted && lv.Level != api.LevelRestricted {
			continue
		}
		if overridden[c.ID] {
			continue
		}
		single := o.singles[c.ID].EvaluatePod(api.LevelVersion{Level: c.Level, Version: lv.Version}, &tmpl.ObjectMeta, &tmpl.Spec)
		for _, r := range single {
			if !r.Allowed {
				named = append(named, checkOut{ID: string(c.ID), Reason: r.ForbiddenReason, Detail: r.ForbiddenDetail})
			}
		}
	}
	if err := sameResults(full, named); err != nil {
		return nil, err
	}
	sort.Slice(named, func(i, j int) bool { return named[i].ID < named[j].ID })
	if named == nil {
		named = []checkOut{}
	}
	return named, nil
}

func sameResults(full policy.AggregateCheckResult, named []checkOut) error {
	count := func(reasons, details []string) map[string]int {
		m := map[string]int{}
		for i := range reasons {
			m[reasons[i]+"\x00"+details[i]]++
		}
		return m
	}
	var nr, nd []string
	for _, c := range named {
		nr, nd = append(nr, c.Reason), append(nd, c.Detail)
	}
	if !reflect.DeepEqual(count(full.ForbiddenReasons, full.ForbiddenDetails), count(nr, nd)) {
		return fmt.Errorf("per-check results %v differ from the evaluator's %v", nr, full.ForbiddenReasons)
	}
	return nil
}

// ---- objects to pods ----

type pod struct {
	role string
	tmpl *corev1.PodTemplateSpec
}

func metaOf(obj map[string]any) map[string]any {
	m, _ := obj["metadata"].(map[string]any)
	if m == nil {
		return map[string]any{}
	}
	return m
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func dig(m map[string]any, path ...string) (map[string]any, bool) {
	cur := m
	for _, p := range path {
		next, ok := cur[p].(map[string]any)
		if !ok {
			return nil, false
		}
		cur = next
	}
	return cur, true
}

func decodeTemplate(raw map[string]any) (*corev1.PodTemplateSpec, error) {
	data, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	var t corev1.PodTemplateSpec
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("cannot decode the pod template: %v", err)
	}
	return &t, nil
}

var templatePaths = map[string][]string{
	"Deployment":            {"spec", "template"},
	"StatefulSet":           {"spec", "template"},
	"DaemonSet":             {"spec", "template"},
	"ReplicaSet":            {"spec", "template"},
	"ReplicationController": {"spec", "template"},
	"Job":                   {"spec", "template"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template"},
	"PodTemplate":           {"template"},
}

func podsOf(obj map[string]any) ([]pod, error) {
	kind := str(obj["kind"])
	switch kind {
	case "Pod":
		raw := map[string]any{"metadata": obj["metadata"], "spec": obj["spec"]}
		t, err := decodeTemplate(raw)
		if err != nil {
			return nil, err
		}
		return []pod{{"", t}}, nil
	case "SparkApplication", "ScheduledSparkApplication":
		spec, ok := dig(obj, "spec")
		if kind == "ScheduledSparkApplication" {
			spec, ok = dig(obj, "spec", "template")
		}
		if !ok {
			return nil, nil
		}
		var pods []pod
		for _, role := range []string{"driver", "executor"} {
			t, err := decodeTemplate(sparkPod(spec, role))
			if err != nil {
				return nil, fmt.Errorf("%s: %v", role, err)
			}
			pods = append(pods, pod{role, t})
		}
		return pods, nil
	}
	path, ok := templatePaths[kind]
	if !ok {
		return nil, nil
	}
	raw, ok := dig(obj, path...)
	if !ok {
		return nil, nil
	}
	t, err := decodeTemplate(raw)
	if err != nil {
		return nil, err
	}
	return []pod{{"", t}}, nil
}

// sparkPod maps a SparkApplication role (driver or executor) to the pod the Spark operator
// (v2) creates for it, as far as the fields map: podSecurityContext -> pod securityContext,
// securityContext -> the Spark container, hostNetwork, labels/annotations -> pod metadata,
// sidecars and initContainers as they are, and the application's volumes that the role mounts.
// Not mapped: role.template (a full pod template merged by Spark), and what Spark adds itself
// (its configMap and emptyDir volumes, which every level admits).
func sparkPod(spec map[string]any, role string) map[string]any {
	r, _ := spec[role].(map[string]any)
	if r == nil {
		r = map[string]any{}
	}
	main := map[string]any{"name": "spark-kubernetes-" + role}
	for _, f := range []string{"securityContext", "lifecycle", "volumeMounts"} {
		if v, ok := r[f]; ok {
			main[f] = v
		}
	}
	containers := []any{main}
	if sidecars, ok := r["sidecars"].([]any); ok {
		containers = append(containers, sidecars...)
	}
	podSpec := map[string]any{"containers": containers}
	if v, ok := r["initContainers"]; ok {
		podSpec["initContainers"] = v
	}
	if v, ok := r["podSecurityContext"]; ok {
		podSpec["securityContext"] = v
	}
	if v, ok := r["hostNetwork"]; ok {
		podSpec["hostNetwork"] = v
	}
	mounted := map[string]bool{}
	for _, c := range containers {
		cm, _ := c.(map[string]any)
		mounts, _ := cm["volumeMounts"].([]any)
		for _, m := range mounts {
			if mm, ok := m.(map[string]any); ok {
				mounted[str(mm["name"])] = true
			}
		}
	}
	var volumes []any
	if vols, ok := spec["volumes"].([]any); ok {
		for _, v := range vols {
			if vm, ok := v.(map[string]any); ok && mounted[str(vm["name"])] {
				volumes = append(volumes, v)
			}
		}
	}
	if len(volumes) > 0 {
		podSpec["volumes"] = volumes
	}
	meta := map[string]any{}
	for _, f := range []string{"labels", "annotations"} {
		if v, ok := r[f]; ok {
			meta[f] = v
		}
	}
	return map[string]any{"metadata": meta, "spec": podSpec}
}
