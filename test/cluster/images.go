package main

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubernetes/pkg/api/v1/resource"
	"k8s.io/kubernetes/pkg/fieldpath"
	"k8s.io/kubernetes/third_party/forked/golang/expansion"
)

// knownImages maps an image repository (the reference without tag or digest) to the
// binary, built from Go modules by build.sh into the images directory, that the kubelet
// stand-in runs for it. Any tag or digest of a known repository runs the same binary.
var knownImages = map[string]string{
	// sigs.k8s.io/gateway-api/conformance/echo-basic (v1.6.x), as the conformance manifests name it.
	"registry.k8s.io/gateway-api/echo-basic":    "echo-basic",
	"gcr.io/k8s-staging-gateway-api/echo-basic": "echo-basic",
	// Ours (images/portico-backend): echo, WebSocket, slow and failing endpoints, a readiness switch.
	"portico.dev/testcluster/backend": "portico-backend",
	// Ours (images/coredns): NOT CoreDNS; a stand-in serving the Corefile subset the
	// conformance base manifests use (whoami; forward answered REFUSED, nothing leaves the machine).
	"registry.k8s.io/coredns/coredns": "coredns",
}

// knownImageList is the sorted repository list, for messages.
func knownImageList() string {
	list := make([]string, 0, len(knownImages))
	for repo := range knownImages {
		list = append(list, repo)
	}
	sort.Strings(list)
	return strings.Join(list, ", ")
}

// imageRepository strips the digest and tag from an image reference.
func imageRepository(ref string) string {
	if at := strings.IndexByte(ref, '@'); at >= 0 {
		ref = ref[:at]
	}
	if colon := strings.LastIndexByte(ref, ':'); colon > strings.LastIndexByte(ref, '/') {
		ref = ref[:colon]
	}
	return ref
}

// containerProblem is why a container cannot be created: the waiting reason the pod
// status shows, and the message (also sent as an Event).
type containerProblem struct {
	reason  string
	message string
}

func (p *containerProblem) Error() string { return p.reason + ": " + p.message }

// resolveContainer returns the binary and arguments that stand in for c, or why it
// cannot run here. Features that need a container runtime are refused, not ignored.
func resolveContainer(c *v1.Container, imagesDir string) (string, []string, *containerProblem) {
	repo := imageRepository(c.Image)
	name, ok := knownImages[repo]
	if !ok {
		return "", nil, &containerProblem{"ErrImagePull", fmt.Sprintf(
			"image %q is not one the portico test cluster can run (it runs local binaries for: %s)", c.Image, knownImageList())}
	}
	args := c.Args
	if len(c.Command) > 0 {
		if path.Base(c.Command[0]) != name {
			return "", nil, &containerProblem{"RunContainerError", fmt.Sprintf(
				"container %q: command %q is not in image %s (the test cluster runs only the image's own binary, %s)", c.Name, c.Command[0], repo, name)}
		}
		args = append(append([]string{}, c.Command[1:]...), c.Args...)
	}
	return path.Join(imagesDir, name), args, nil
}

// podProblem is a pod-level feature the kubelet stand-in refuses, or nil.
func podProblem(pod *v1.Pod) *containerProblem {
	switch {
	case len(pod.Spec.InitContainers) > 0:
		return &containerProblem{"CreateContainerConfigError", "init containers are not supported by the portico test cluster"}
	case pod.Spec.HostNetwork:
		return &containerProblem{"CreateContainerConfigError", "hostNetwork pods are not supported by the portico test cluster (every pod gets a network namespace)"}
	}
	return nil
}

// containerEnv is the process environment of c: PATH and HOSTNAME as a container image
// would have them, then the pod's env and envFrom, with downward-API fields
// (metadata.*, spec.nodeName, spec.serviceAccountName, status.podIP(s), status.hostIP(s)),
// resource fields, ConfigMap and Secret keys, and $(VAR) references expanded the way
// the kubelet does. Service link variables are not set.
func containerEnv(ctx context.Context, client kubernetes.Interface, pod *v1.Pod, c *v1.Container, podIP, hostIP string) ([]string, *containerProblem) {
	values := map[string]string{}
	var order []string
	set := func(name, value string) {
		if _, seen := values[name]; !seen {
			order = append(order, name)
		}
		values[name] = value
	}
	set("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	set("HOSTNAME", pod.Name)

	for _, from := range c.EnvFrom {
		data, problem := envSource(ctx, client, pod.Namespace, from)
		if problem != nil {
			return nil, problem
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			set(from.Prefix+k, data[k])
		}
	}
	mapping := expansion.MappingFuncFor(values)
	for _, env := range c.Env {
		if env.ValueFrom == nil {
			set(env.Name, expansion.Expand(env.Value, mapping))
			continue
		}
		value, problem := envValueFrom(ctx, client, pod, c, env, podIP, hostIP)
		if problem != nil {
			return nil, problem
		}
		if value != nil {
			set(env.Name, *value)
		}
	}
	out := make([]string, 0, len(order))
	for _, name := range order {
		out = append(out, name+"="+values[name])
	}
	return out, nil
}

// envValueFrom resolves one valueFrom; nil (no problem) means an optional key is absent.
func envValueFrom(ctx context.Context, client kubernetes.Interface, pod *v1.Pod, c *v1.Container, env v1.EnvVar, podIP, hostIP string) (*string, *containerProblem) {
	src := env.ValueFrom
	bad := func(format string, a ...any) *containerProblem {
		return &containerProblem{"CreateContainerConfigError", fmt.Sprintf("env %s: ", env.Name) + fmt.Sprintf(format, a...)}
	}
	switch {
	case src.FieldRef != nil:
		switch p := src.FieldRef.FieldPath; p {
		case "spec.nodeName":
			return &pod.Spec.NodeName, nil
		case "spec.serviceAccountName":
			return &pod.Spec.ServiceAccountName, nil
		case "status.podIP", "status.podIPs":
			return &podIP, nil
		case "status.hostIP", "status.hostIPs":
			return &hostIP, nil
		default:
			value, err := fieldpath.ExtractFieldPathAsString(pod, p)
			if err != nil {
				return nil, bad("%v", err)
			}
			return &value, nil
		}
	case src.ResourceFieldRef != nil:
		value, err := resource.ExtractContainerResourceValue(src.ResourceFieldRef, c)
		if err != nil {
			return nil, bad("%v", err)
		}
		return &value, nil
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		data, err := configMapData(ctx, client, pod.Namespace, ref.Name)
		return pickKey(env.Name, "configmap", ref.Name, ref.Key, ref.Optional, data, err)
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		data, err := secretData(ctx, client, pod.Namespace, ref.Name)
		return pickKey(env.Name, "secret", ref.Name, ref.Key, ref.Optional, data, err)
	}
	return nil, bad("valueFrom source not supported by the portico test cluster")
}

// pickKey is key of a ConfigMap's or Secret's data for env var name; nil (no problem)
// when it, or the object, is absent and optional.
func pickKey(name, kind, object, key string, optional *bool, data map[string]string, err error) (*string, *containerProblem) {
	if v, ok := data[key]; ok && err == nil {
		return &v, nil
	}
	if optional != nil && *optional {
		return nil, nil
	}
	message := fmt.Sprintf("env %s: key %q not found in %s %q", name, key, kind, object)
	if err != nil {
		message = fmt.Sprintf("env %s: %s %q: %v", name, kind, object, err)
	}
	return nil, &containerProblem{"CreateContainerConfigError", message}
}

func configMapData(ctx context.Context, client kubernetes.Interface, namespace, name string) (map[string]string, error) {
	cm, err := client.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return cm.Data, nil
}

func secretData(ctx context.Context, client kubernetes.Interface, namespace, name string) (map[string]string, error) {
	secret, err := client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	data := make(map[string]string, len(secret.Data))
	for k, v := range secret.Data {
		data[k] = string(v)
	}
	return data, nil
}

// envSource reads one envFrom ConfigMap or Secret (nil when absent and optional).
func envSource(ctx context.Context, client kubernetes.Interface, namespace string, from v1.EnvFromSource) (map[string]string, *containerProblem) {
	var (
		kind, name string
		optional   *bool
		data       map[string]string
		err        error
	)
	switch {
	case from.ConfigMapRef != nil:
		kind, name, optional = "configmap", from.ConfigMapRef.Name, from.ConfigMapRef.Optional
		data, err = configMapData(ctx, client, namespace, name)
	case from.SecretRef != nil:
		kind, name, optional = "secret", from.SecretRef.Name, from.SecretRef.Optional
		data, err = secretData(ctx, client, namespace, name)
	default:
		return nil, &containerProblem{"CreateContainerConfigError", "envFrom source not supported by the portico test cluster"}
	}
	if err != nil {
		if optional != nil && *optional {
			return nil, nil
		}
		return nil, &containerProblem{"CreateContainerConfigError", fmt.Sprintf("envFrom %s %q: %v", kind, name, err)}
	}
	return data, nil
}
