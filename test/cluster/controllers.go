package main

import (
	"context"
	"fmt"
	"os"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	cacheddiscovery "k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/util/keyutil"
	"k8s.io/controller-manager/pkg/informerfactory"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/controller/deployment"
	"k8s.io/kubernetes/pkg/controller/endpointslice"
	"k8s.io/kubernetes/pkg/controller/endpointslicemirroring"
	"k8s.io/kubernetes/pkg/controller/garbagecollector"
	namespacecontroller "k8s.io/kubernetes/pkg/controller/namespace"
	"k8s.io/kubernetes/pkg/controller/replicaset"
	serviceaccountcontroller "k8s.io/kubernetes/pkg/controller/serviceaccount"
	"k8s.io/kubernetes/pkg/serviceaccount"
)

// controllerSet says which of kube-controller-manager's controllers the harness runs.
type controllerSet struct {
	namespace bool // namespace: deleted namespaces finish terminating
	workloads bool // deployment, replicaset, endpointslice(-mirroring), serviceaccount(+token), garbage collector
}

// clientConfig is an admin rest.Config for one component; the user agent names it in
// the apiserver's logs and in managedFields.
func clientConfig(server string, pki pkiFiles, component string) *rest.Config {
	return &rest.Config{
		Host:            server,
		BearerToken:     pki.tokenValue,
		TLSClientConfig: rest.TLSClientConfig{CAFile: pki.caCert},
		UserAgent:       "portico-testcluster/" + component,
		QPS:             100,
		Burst:           200,
	}
}

// runControllers starts kube-controller-manager's controllers (the same code, built the
// way its app package builds them) against the apiserver until ctx ends. The shared
// informer factory is returned so the scheduler and kubelet stand-ins use the same
// caches; it is already started.
func runControllers(ctx context.Context, server string, pki pkiFiles, set controllerSet) (informers.SharedInformerFactory, error) {
	client, err := kubernetes.NewForConfig(clientConfig(server, pki, "kube-controller-manager"))
	if err != nil {
		return nil, err
	}
	meta, err := metadata.NewForConfig(clientConfig(server, pki, "kube-controller-manager"))
	if err != nil {
		return nil, err
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	var runs []func(context.Context)

	if set.namespace {
		nc := namespacecontroller.NewNamespaceController(
			ctx, client, meta,
			client.Discovery().ServerPreferredNamespacedResources,
			factory.Core().V1().Namespaces(),
			5*time.Minute, // --namespace-sync-period default
			v1.FinalizerKubernetes,
		)
		runs = append(runs, func(ctx context.Context) { nc.Run(ctx, 10) })
	}

	informersStarted := make(chan struct{})
	var metaFactory metadatainformer.SharedInformerFactory
	if set.workloads {
		dc, err := deployment.NewDeploymentController(ctx,
			factory.Apps().V1().Deployments(), factory.Apps().V1().ReplicaSets(), factory.Core().V1().Pods(), client)
		if err != nil {
			return nil, fmt.Errorf("deployment controller: %w", err)
		}
		rsc := replicaset.NewReplicaSetController(ctx,
			factory.Apps().V1().ReplicaSets(), factory.Core().V1().Pods(), client, replicaset.BurstReplicas)
		// Batch period 0 and 100 endpoints per slice: kube-controller-manager's defaults.
		esc := endpointslice.NewController(ctx,
			factory.Core().V1().Pods(), factory.Core().V1().Services(), factory.Core().V1().Nodes(),
			factory.Discovery().V1().EndpointSlices(), 100, client, 0)
		esmc := endpointslicemirroring.NewController(ctx,
			factory.Core().V1().Endpoints(), factory.Discovery().V1().EndpointSlices(), factory.Core().V1().Services(),
			1000, client, 0)
		sac, err := serviceaccountcontroller.NewServiceAccountsController(klog.FromContext(ctx),
			factory.Core().V1().ServiceAccounts(), factory.Core().V1().Namespaces(), client,
			serviceaccountcontroller.DefaultServiceAccountsControllerOptions())
		if err != nil {
			return nil, fmt.Errorf("serviceaccount controller: %w", err)
		}
		tokens, err := newTokensController(ctx, client, factory, pki)
		if err != nil {
			return nil, err
		}
		// Deployments 5 workers, ReplicaSets 5, EndpointSlices 5: the --concurrent-* defaults.
		runs = append(runs,
			func(ctx context.Context) { dc.Run(ctx, 5) },
			func(ctx context.Context) { rsc.Run(ctx, 5) },
			func(ctx context.Context) { esc.Run(ctx, 5) },
			func(ctx context.Context) { esmc.Run(ctx, 5) },
			func(ctx context.Context) { sac.Run(ctx, 1) },
			func(ctx context.Context) { tokens.Run(ctx, 5) },
		)

		gcRun, mf, err := newGarbageCollector(ctx, server, pki, client, meta, factory, informersStarted)
		if err != nil {
			return nil, err
		}
		metaFactory = mf
		runs = append(runs, gcRun)
	}

	factory.Start(ctx.Done())
	if metaFactory != nil {
		metaFactory.Start(ctx.Done())
	}
	close(informersStarted)
	for _, run := range runs {
		go run(ctx)
	}
	go func() {
		<-ctx.Done()
		factory.Shutdown()
		if metaFactory != nil {
			metaFactory.Shutdown()
		}
	}()
	return factory, nil
}

// newTokensController is the legacy service-account token controller: it fills in
// Secrets of type kubernetes.io/service-account-token, signed with the harness's
// service-account key (the one kube-apiserver verifies with).
func newTokensController(ctx context.Context, client kubernetes.Interface, factory informers.SharedInformerFactory, pki pkiFiles) (*serviceaccountcontroller.TokensController, error) {
	key, err := keyutil.PrivateKeyFromFile(pki.saKey)
	if err != nil {
		return nil, fmt.Errorf("service-account key: %w", err)
	}
	generator, err := serviceaccount.JWTTokenGenerator(serviceaccount.LegacyIssuer, key)
	if err != nil {
		return nil, fmt.Errorf("token generator: %w", err)
	}
	rootCA, err := os.ReadFile(pki.caCert)
	if err != nil {
		return nil, err
	}
	tc, err := serviceaccountcontroller.NewTokensController(klog.FromContext(ctx),
		factory.Core().V1().ServiceAccounts(), factory.Core().V1().Secrets(), client,
		serviceaccountcontroller.TokensControllerOptions{TokenGenerator: generator, RootCA: rootCA})
	if err != nil {
		return nil, fmt.Errorf("tokens controller: %w", err)
	}
	return tc, nil
}

// newGarbageCollector wires the garbage collector as kube-controller-manager does: a
// metadata informer factory for every deletable resource, a discovery-backed REST mapper
// reset every 30 s, and a Sync loop that picks up new resources (CRDs).
func newGarbageCollector(ctx context.Context, server string, pki pkiFiles, client kubernetes.Interface, meta metadata.Interface,
	factory informers.SharedInformerFactory, informersStarted chan struct{}) (func(context.Context), metadatainformer.SharedInformerFactory, error) {
	disco, err := discovery.NewDiscoveryClientForConfig(clientConfig(server, pki, "generic-garbage-collector"))
	if err != nil {
		return nil, nil, err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(cacheddiscovery.NewMemCacheClient(disco))
	metaFactory := metadatainformer.NewSharedInformerFactory(meta, 0)
	builder := garbagecollector.NewDependencyGraphBuilder(ctx, meta, mapper,
		garbagecollector.DefaultIgnoredResources(),
		informerfactory.NewInformerFactory(factory, metaFactory), informersStarted)
	gc, err := garbagecollector.NewComposedGarbageCollector(ctx, client, meta, mapper, builder)
	if err != nil {
		return nil, nil, fmt.Errorf("garbage collector: %w", err)
	}
	const syncPeriod = 30 * time.Second
	run := func(ctx context.Context) {
		go wait.Until(mapper.Reset, syncPeriod, ctx.Done())
		go gc.Sync(ctx, disco, syncPeriod)
		gc.Run(ctx, 20, syncPeriod) // --concurrent-gc-syncs default
	}
	return run, metaFactory, nil
}
