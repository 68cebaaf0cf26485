package render

import (
	"trellis.dev/trellis/schema"
)

// Pieces of pod specs shared by the kinds: environment variables from
// values and from Secret and ConfigMap keys, volumes and their mounts, and
// extra containers.

// containerEnv returns a container's env: values (mapped through f when f
// is not nil) and references to Secret and ConfigMap keys, sorted by name,
// or nil. A name set both ways is taken from its reference (validate
// refuses it).
func containerEnv(env map[string]string, refs map[string]schema.EnvRef, f func(string) string) []any {
	byName := map[string]any{}
	for _, e := range envList(env, f) {
		byName[e.(map[string]any)["name"].(string)] = e
	}
	for name, r := range refs {
		byName[name] = map[string]any{"name": name, "valueFrom": envSource(r)}
	}
	if len(byName) == 0 {
		return nil
	}
	out := make([]any, 0, len(byName))
	for _, name := range sortedKeys(byName) {
		out = append(out, byName[name])
	}
	return out
}

// envSource returns the valueFrom of an env reference.
func envSource(r schema.EnvRef) map[string]any {
	sel := map[string]any{"key": r.Key}
	if r.Optional != nil {
		sel["optional"] = *r.Optional
	}
	if r.ConfigMap != "" {
		sel["name"] = r.ConfigMap
		return map[string]any{"configMapKeyRef": sel}
	}
	sel["name"] = r.Secret
	return map[string]any{"secretKeyRef": sel}
}

// volume returns a pod volume of v's source.
func volume(v schema.VolumeSource) map[string]any {
	out := map[string]any{"name": v.Name}
	switch {
	case v.EmptyDir != nil:
		ed := map[string]any{}
		setIf(ed, "medium", v.EmptyDir.Medium)
		if v.EmptyDir.SizeLimit != "" {
			ed["sizeLimit"] = quantity(v.EmptyDir.SizeLimit)
		}
		out["emptyDir"] = ed
	case v.Claim != "":
		out["persistentVolumeClaim"] = map[string]any{"claimName": v.Claim}
	case v.Secret != "":
		out["secret"] = map[string]any{"secretName": v.Secret}
	case v.ConfigMap != "":
		out["configMap"] = map[string]any{"name": v.ConfigMap}
	}
	return out
}

// volumeMounts returns a container's volumeMounts, or nil.
func volumeMounts(mounts []schema.Mount) []any {
	out := make([]any, len(mounts))
	for i, m := range mounts {
		vm := map[string]any{"name": m.Volume, "mountPath": m.MountPath}
		if m.ReadOnly {
			vm["readOnly"] = true
		}
		setIf(vm, "subPath", m.SubPath)
		out[i] = vm
	}
	return out
}

// podVolumes returns the pod volumes of a trial's volumes and the mounts
// of its container.
func podVolumes(vs []schema.Volume) (volumes, mounts []any) {
	ms := make([]schema.Mount, len(vs))
	for i, v := range vs {
		volumes = append(volumes, volume(v.VolumeSource))
		ms[i] = schema.Mount{Volume: v.Name, MountPath: v.MountPath, ReadOnly: v.ReadOnly}
	}
	return volumes, volumeMounts(ms)
}

// container returns an extra container, named name when it names none.
func container(c schema.Container, name string, defaults *schema.Resources) map[string]any {
	if c.Name != "" {
		name = c.Name
	}
	out := map[string]any{"name": name, "image": c.Image}
	setIf(out, "command", anyList(c.Command, nil))
	setIf(out, "args", anyList(c.Args, nil))
	setIf(out, "env", containerEnv(c.Env, c.EnvRefs, nil))
	if c.Port > 0 {
		out["ports"] = []any{map[string]any{"containerPort": int64(c.Port), "protocol": "TCP"}}
	}
	setIf(out, "resources", containerResources(c.Resources, defaults))
	setIf(out, "volumeMounts", volumeMounts(c.Mounts))
	if c.MirrorMounts {
		out["mirrorVolumeMounts"] = true
	}
	return out
}

// containers returns extra containers, or nil.
func containers(cs []schema.Container, defaults *schema.Resources) []any {
	out := make([]any, len(cs))
	for i, c := range cs {
		out[i] = container(c, "", defaults)
	}
	return out
}
