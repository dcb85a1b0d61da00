package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// volumeMount is one mount of a container: the pod volume's directory on this machine
// (DIR/pods/…/volumes/NAME) bound at the container's mountPath inside a mount namespace
// of the container's own (see mountexec.go).
type volumeMount struct {
	source   string
	target   string
	readOnly bool
}

// String is the --mount argument of mount-exec: SOURCE:TARGET[:ro].
func (m volumeMount) String() string {
	s := m.source + ":" + m.target
	if m.readOnly {
		s += ":ro"
	}
	return s
}

// volumeProblem is why a pod volume is not one the kubelet stand-in provides, or nil.
// Secret, ConfigMap and emptyDir volumes are written as files; anything else (hostPath,
// projected, PVCs, CSI, …) needs a real kubelet and is refused.
func volumeProblem(vol *v1.Volume) *containerProblem {
	switch {
	case vol.Secret != nil, vol.ConfigMap != nil, vol.EmptyDir != nil:
		return nil
	}
	return &containerProblem{"CreateContainerConfigError", fmt.Sprintf(
		"volume %q: only secret, configMap and emptyDir volumes are supported by the portico test cluster", vol.Name)}
}

// containerMounts resolves c's volumeMounts against the pod's volumes, whose files live in
// volumesDir/NAME. subPath and mounts of unsupported volumes are refused.
func containerMounts(pod *v1.Pod, c *v1.Container, volumesDir string) ([]volumeMount, *containerProblem) {
	volumes := map[string]*v1.Volume{}
	for i := range pod.Spec.Volumes {
		volumes[pod.Spec.Volumes[i].Name] = &pod.Spec.Volumes[i]
	}
	var mounts []volumeMount
	for _, m := range c.VolumeMounts {
		vol, ok := volumes[m.Name]
		switch {
		case !ok:
			return nil, &containerProblem{"CreateContainerConfigError", fmt.Sprintf("container %q mounts volume %q, which the pod does not have", c.Name, m.Name)}
		case m.SubPath != "" || m.SubPathExpr != "":
			return nil, &containerProblem{"CreateContainerConfigError", fmt.Sprintf(
				"container %q mounts volume %q with a subPath: not supported by the portico test cluster", c.Name, m.Name)}
		case !filepath.IsAbs(m.MountPath) || filepath.Clean(m.MountPath) == "/":
			return nil, &containerProblem{"CreateContainerConfigError", fmt.Sprintf("container %q: mountPath %q must be an absolute path below /", c.Name, m.MountPath)}
		}
		if p := volumeProblem(vol); p != nil {
			return nil, p
		}
		if existingAncestor(filepath.Clean(m.MountPath)) == "/" {
			return nil, &containerProblem{"CreateContainerConfigError", fmt.Sprintf(
				"container %q mounts volume %q at %s: the portico test cluster mounts volumes only where this machine has the parent directory (containers share its filesystem)", c.Name, m.Name, m.MountPath)}
		}
		// The kubelet mounts Secret and ConfigMap volumes read-only whatever the mount says.
		readOnly := m.ReadOnly || vol.Secret != nil || vol.ConfigMap != nil
		mounts = append(mounts, volumeMount{source: filepath.Join(volumesDir, m.Name), target: filepath.Clean(m.MountPath), readOnly: readOnly})
	}
	return mounts, nil
}

// writeVolumes (re)creates the files of the pod's volumes under volumesDir: each Secret or
// ConfigMap key (or the listed items, at their paths and modes) as a file, an emptyDir as
// an empty directory. An error names the volume and object, as the kubelet's FailedMount
// Event does; a missing object of an optional volume gives an empty directory.
func writeVolumes(ctx context.Context, client kubernetes.Interface, pod *v1.Pod, volumesDir string) error {
	for i := range pod.Spec.Volumes {
		vol := &pod.Spec.Volumes[i]
		if volumeProblem(vol) != nil {
			continue // refused per container, where it is mounted
		}
		dir := filepath.Join(volumesDir, vol.Name)
		var (
			files       map[string][]byte
			items       []v1.KeyToPath
			defaultMode *int32
			err         error
		)
		switch {
		case vol.EmptyDir != nil:
			if err := os.MkdirAll(dir, 0o777); err != nil {
				return err
			}
			continue
		case vol.Secret != nil:
			src := vol.Secret
			items, defaultMode = src.Items, src.DefaultMode
			files, err = secretFiles(ctx, client, pod.Namespace, src.SecretName, src.Optional)
			if err != nil {
				return fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", vol.Name, err)
			}
		case vol.ConfigMap != nil:
			src := vol.ConfigMap
			items, defaultMode = src.Items, src.DefaultMode
			files, err = configMapFiles(ctx, client, pod.Namespace, src.Name, src.Optional)
			if err != nil {
				return fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", vol.Name, err)
			}
		}
		if err := writeKeys(dir, files, items, defaultMode); err != nil {
			return fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", vol.Name, err)
		}
	}
	return nil
}

func secretFiles(ctx context.Context, client kubernetes.Interface, namespace, name string, optional *bool) (map[string][]byte, error) {
	secret, err := client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && optional != nil && *optional {
		return map[string][]byte{}, nil
	}
	if err != nil {
		return nil, err
	}
	return secret.Data, nil
}

func configMapFiles(ctx context.Context, client kubernetes.Interface, namespace, name string, optional *bool) (map[string][]byte, error) {
	cm, err := client.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && optional != nil && *optional {
		return map[string][]byte{}, nil
	}
	if err != nil {
		return nil, err
	}
	files := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		files[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		files[k] = v
	}
	return files, nil
}

// writeKeys replaces dir with the files: every key at its own name, or only items (key
// at path, with its mode). A listed key that is missing is an error, as in the kubelet.
func writeKeys(dir string, files map[string][]byte, items []v1.KeyToPath, defaultMode *int32) error {
	mode := os.FileMode(0o644)
	if defaultMode != nil {
		mode = os.FileMode(*defaultMode) & 0o777
	}
	type file struct {
		path string
		data []byte
		mode os.FileMode
	}
	var out []file
	if len(items) == 0 {
		keys := make([]string, 0, len(files))
		for k := range files {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, file{k, files[k], mode})
		}
	} else {
		for _, item := range items {
			data, ok := files[item.Key]
			if !ok {
				return fmt.Errorf("configmap or secret key %q not found", item.Key)
			}
			m := mode
			if item.Mode != nil {
				m = os.FileMode(*item.Mode) & 0o777
			}
			out = append(out, file{item.Path, data, m})
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range out {
		clean := filepath.Clean(f.path)
		if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
			return fmt.Errorf("path %q leaves the volume", f.path)
		}
		target := filepath.Join(dir, clean)
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(target, f.data, f.mode); err != nil {
			return err
		}
		if err := os.Chmod(target, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// existingAncestor is the deepest existing directory at or above path (path itself
// when it exists; "/" at worst).
func existingAncestor(path string) string {
	for path != "/" {
		if _, err := os.Stat(path); err == nil {
			return path
		}
		path = filepath.Dir(path)
	}
	return path
}
