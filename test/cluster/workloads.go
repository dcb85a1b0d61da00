package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// workloads is what runs besides the apiserver: controllers, Nodes, scheduler, kubelet.
type workloads struct {
	cancel  context.CancelFunc
	kubelet *kubelet
	network *podNetwork
	once    sync.Once
}

// startWorkloads starts the controllers in set and, with set.workloads, claims the pod
// network, registers the Nodes and starts the scheduler and kubelet stand-ins. It
// returns once their caches are synced. Without root (no network namespaces) Nodes and
// pods still exist, but every pod stays Pending with a FailedCreatePodSandBox Event.
func startWorkloads(parent context.Context, server string, pki pkiFiles, dataDir, imagesDir string, nodes int, set controllerSet) (*workloads, error) {
	ctx, cancel := context.WithCancel(parent)
	wl := &workloads{cancel: cancel}
	factory, err := runControllers(ctx, server, pki, set)
	if err != nil {
		return wl, fmt.Errorf("controllers: %w", err)
	}
	if !set.workloads {
		return wl, nil
	}
	client, err := kubernetes.NewForConfig(clientConfig(server, pki, "kubelet"))
	if err != nil {
		return wl, err
	}
	network, netErr := claimPodNetwork(nodes)
	if netErr != nil {
		fmt.Fprintf(os.Stderr, "portico-testcluster: pods will not start: %v\n", netErr)
	}
	wl.network = network
	addresses := map[string]string{}
	list := make([]string, nodes)
	for i := range nodes {
		list[i] = "127.0.0.1"
		if network != nil {
			list[i] = network.nodeAddress(i)
		}
		addresses[nodeName(i)] = list[i]
	}
	if err := registerNodes(ctx, client, list); err != nil {
		return wl, err
	}
	if network != nil {
		if err := serveKubeletAPI(ctx, list, filepath.Join(dataDir, "pods")); err != nil {
			return wl, err
		}
	}

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	go func() {
		<-ctx.Done()
		broadcaster.Shutdown()
	}()
	if err := runScheduler(ctx, client, factory, broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: schedulerName})); err != nil {
		return wl, err
	}
	self, err := os.Executable()
	if err != nil {
		return wl, err
	}
	k := &kubelet{
		self:   self,
		client: client, network: network, networkErr: netErr, nodes: addresses,
		imagesDir: imagesDir, podsDir: filepath.Join(dataDir, "pods"), recorders: map[string]record.EventRecorder{},
	}
	for name := range addresses {
		k.recorders[name] = broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: "kubelet", Host: name})
	}
	if err := runKubelet(ctx, k, factory); err != nil {
		return wl, err
	}
	wl.kubelet = k
	// Informers added after Start need another Start to run.
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return wl, fmt.Errorf("informer cache for %v did not sync", typ)
		}
	}
	return wl, nil
}

// stop ends everything startWorkloads started and waits until every pod process is
// gone and the pod network removed. Safe to call more than once, and on nil.
func (wl *workloads) stop() {
	if wl == nil {
		return
	}
	wl.once.Do(func() {
		wl.cancel()
		if wl.kubelet != nil {
			wl.kubelet.wait()
		}
		if wl.network != nil {
			wl.network.close()
		}
	})
}
