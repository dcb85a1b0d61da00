package main

import (
	"context"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	namespacecontroller "k8s.io/kubernetes/pkg/controller/namespace"
)

// runNamespaceController runs kube-controller-manager's namespace controller (the same
// code) against the apiserver until ctx ends. Without it a deleted namespace stays
// Terminating forever, and tests that clean up per-test namespaces would pile them up.
// It is the only controller the harness runs.
func runNamespaceController(ctx context.Context, server string, pki pkiFiles) error {
	cfg := &rest.Config{
		Host:            server,
		BearerToken:     pki.tokenValue,
		TLSClientConfig: rest.TLSClientConfig{CAFile: pki.caCert},
		UserAgent:       "portico-testcluster/namespace-controller",
		QPS:             50,
		Burst:           100,
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	controller := namespacecontroller.NewNamespaceController(
		ctx, client, meta,
		client.Discovery().ServerPreferredNamespacedResources,
		factory.Core().V1().Namespaces(),
		5*time.Minute, // kube-controller-manager's --namespace-sync-period default
		v1.FinalizerKubernetes,
	)
	factory.Start(ctx.Done())
	go func() {
		controller.Run(ctx, 2)
		factory.Shutdown()
	}()
	return nil
}
