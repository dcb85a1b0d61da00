package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
)

// manifestKinds are the kinds a CRD bundle may hold (the Gateway API standard channel has
// CustomResourceDefinitions and its safe-upgrades ValidatingAdmissionPolicy + binding).
var manifestKinds = map[string]schema.GroupVersionResource{
	"apiextensions.k8s.io/v1/CustomResourceDefinition":                 {Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"},
	"admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy":        {Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicies"},
	"admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding": {Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicybindings"},
}

var crdGVR = manifestKinds["apiextensions.k8s.io/v1/CustomResourceDefinition"]

// readManifests decodes every object of every *.yaml file in dir (sorted by name). A
// kind outside manifestKinds is an error naming the file: the harness installs
// definitions, not workloads.
func readManifests(dir string) ([]*unstructured.Unstructured, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no *.yaml files in %s (run test/cluster/build.sh)", dir)
	}
	sort.Strings(files)
	var objects []*unstructured.Unstructured
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for i := 0; ; i++ {
			var raw map[string]any
			if err := decoder.Decode(&raw); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, fmt.Errorf("%s: document %d: %w", file, i, err)
			}
			if len(raw) == 0 {
				continue
			}
			obj := &unstructured.Unstructured{Object: raw}
			key := obj.GetAPIVersion() + "/" + obj.GetKind()
			if _, ok := manifestKinds[key]; !ok {
				return nil, fmt.Errorf("%s: document %d: kind %s is not a definition the harness installs", file, i, key)
			}
			objects = append(objects, obj)
		}
	}
	return objects, nil
}

// installCRDs server-side-applies the CRD bundle in dir (idempotent: a restart on the same
// data dir re-applies the same objects) and waits until every CRD is Established, so
// that clients may create the custom resources as soon as READY is printed.
func installCRDs(ctx context.Context, client dynamic.Interface, dir string) (int, error) {
	objects, err := readManifests(dir)
	if err != nil {
		return 0, err
	}
	// Applied side by side: the apiserver's work per CRD (schema, OpenAPI) dominates.
	var (
		crds []string
		wg   sync.WaitGroup
	)
	errs := make([]error, len(objects))
	for i, obj := range objects {
		gvr := manifestKinds[obj.GetAPIVersion()+"/"+obj.GetKind()]
		if gvr == crdGVR {
			crds = append(crds, obj.GetName())
		}
		wg.Go(func() {
			body, err := json.Marshal(obj.Object)
			if err == nil {
				force := true
				_, err = client.Resource(gvr).Patch(ctx, obj.GetName(), types.ApplyPatchType, body,
					metav1.PatchOptions{FieldManager: "portico-testcluster", Force: &force})
			}
			if err != nil {
				errs[i] = fmt.Errorf("applying %s %s: %w", obj.GetKind(), obj.GetName(), err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	for _, name := range crds {
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			crd, err := client.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, c := range conditions {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return 0, fmt.Errorf("CRD %s not Established: %w", name, err)
		}
	}
	return len(crds), nil
}

// installBundle installs the CRD bundle in dir with an admin client and logs what it did.
func installBundle(ctx context.Context, server string, pki pkiFiles, dir string) error {
	client, err := dynamic.NewForConfig(clientConfig(server, pki, "crd-installer"))
	if err != nil {
		return err
	}
	start := time.Now()
	n, err := installCRDs(ctx, client, dir)
	if err != nil {
		return fmt.Errorf("installing CRDs from %s: %w", dir, err)
	}
	fmt.Fprintf(os.Stderr, "portico-testcluster: %d CRDs from %s Established in %s\n", n, dir, time.Since(start).Round(time.Millisecond))
	return nil
}
