package main

import (
	"context"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// kubelet is the stand-in for the kubelets of the fake Nodes: one podWorker per pod
// bound to one of them runs the pod's containers as processes in a network namespace
// of its own, probes them, reports status and carries out graceful deletion.
type kubelet struct {
	ctx        context.Context
	client     kubernetes.Interface
	network    *podNetwork // nil when pods cannot get a network; networkErr says why
	networkErr error
	nodes      map[string]string // node name -> InternalIP
	imagesDir  string
	podsDir    string // per-pod scratch directories and container logs
	self       string // this executable, for mount-exec
	recorders  map[string]record.EventRecorder

	mu       sync.Mutex
	workers  map[types.UID]*podWorker
	finished map[types.UID]bool // workers that ran to the end: never started again
	wg       sync.WaitGroup
}

// runKubelet starts the kubelet stand-in on factory's pod informer.
func runKubelet(ctx context.Context, k *kubelet, factory informers.SharedInformerFactory) error {
	k.ctx = ctx
	k.workers = map[types.UID]*podWorker{}
	k.finished = map[types.UID]bool{}
	_, err := factory.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.observe(obj) },
		UpdateFunc: func(_, obj any) { k.observe(obj) },
		DeleteFunc: func(obj any) { k.observeGone(obj) },
	})
	return err
}

func (k *kubelet) observe(obj any) {
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return
	}
	node, ours := k.nodes[pod.Spec.NodeName]
	if !ours {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	w := k.workers[pod.UID]
	if w == nil {
		terminal := pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed
		if k.finished[pod.UID] || (terminal && pod.DeletionTimestamp == nil) || k.ctx.Err() != nil {
			return
		}
		w = newPodWorker(k, pod, node)
		k.workers[pod.UID] = w
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			w.run(k.ctx)
			k.mu.Lock()
			delete(k.workers, pod.UID)
			k.finished[pod.UID] = true
			k.mu.Unlock()
		}()
	}
	w.update(pod, false)
}

func (k *kubelet) observeGone(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if w := k.workers[pod.UID]; w != nil {
		w.update(pod, true)
	}
	delete(k.finished, pod.UID)
}

// wait blocks until every pod worker has killed its processes and removed its sandbox
// (after ctx ended).
func (k *kubelet) wait() {
	k.wg.Wait()
}

// mountExecArgs is the prefix that runs a container through mount-exec (mountexec.go) when
// it has volume mounts; none without.
func (k *kubelet) mountExecArgs(mounts []volumeMount, scratch string) []string {
	if len(mounts) == 0 {
		return nil
	}
	args := []string{k.self, mountExecCommand, "--scratch", scratch}
	for _, m := range mounts {
		args = append(args, "--mount", m.String())
	}
	return append(args, "--")
}
