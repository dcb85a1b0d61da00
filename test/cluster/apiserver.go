package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"

	"github.com/spf13/pflag"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/rest"
	basecompatibility "k8s.io/component-base/compatibility"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/cmd/kube-apiserver/app/options"
)

const (
	serviceCIDR = "10.96.0.0/16"
	// firstServiceIP is the ClusterIP the apiserver gives the default/kubernetes Service.
	firstServiceIP = "10.96.0.1"
	saIssuer       = "https://kubernetes.default.svc.cluster.local"
)

// apiserverArgs is the kube-apiserver command line: the same flags the stock binary takes.
// extra comes last so a caller can override any of them.
func apiserverArgs(dir, etcdURL string, pki pkiFiles, port int, garbageCollector bool, extra []string) []string {
	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--advertise-address=127.0.0.1",
		// The endpoint reconcilers would publish 127.0.0.1 as the kubernetes Service
		// endpoint, which Endpoints validation rejects (loopback), forever, in the log.
		"--endpoint-reconciler-type=none",
		"--cert-dir=" + filepath.Join(dir, "pki"),
		"--tls-cert-file=" + pki.servingCert,
		"--tls-private-key-file=" + pki.servingKey,
		"--token-auth-file=" + pki.tokenCSV,
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=" + saIssuer,
		"--service-account-key-file=" + pki.saPub,
		"--service-account-signing-key-file=" + pki.saKey,
		"--service-cluster-ip-range=" + serviceCIDR,
		// The ServiceAccount admission plugin would add a projected token volume to every
		// Pod, and the kubelet stand-in has no volumes; the serviceaccount controller
		// still creates each namespace's "default" ServiceAccount.
		"--disable-admission-plugins=ServiceAccount",
		"--allow-privileged=true",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		// With the garbage collector running in-process, foreground and orphan deletes
		// work; without it (--workloads=false) they would wait forever.
		"--enable-garbage-collector=" + strconv.FormatBool(garbageCollector),
		"--event-ttl=10m",
		// pods/log goes to the kubelet stand-in's API on the Node's InternalIP (its
		// Hostname address does not resolve).
		"--kubelet-preferred-address-types=InternalIP",
		// Otherwise an open watch (every informer) holds shutdown for the full 60 s
		// ShutdownTimeout; with it, the HTTP server gets 2 s once requests have drained.
		"--shutdown-send-retry-after=true",
	}
	return append(args, extra...)
}

// runAPIServer parses args exactly as the kube-apiserver command does, serves on ln,
// and blocks until ctx is cancelled and the server has shut down (nil), or it fails.
func runAPIServer(ctx context.Context, args []string, ln net.Listener) error {
	s := options.NewServerRunOptions()
	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	for _, f := range s.Flags().FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("kube-apiserver flags: %w", err)
	}
	// Bind before start-up so the port is ours from the first moment; BindPort is
	// still read by the parts that advertise the port.
	s.SecureServing.Listener = ln
	s.SecureServing.BindPort = ln.Addr().(*net.TCPAddr).Port

	// The same steps, in the same order, as NewAPIServerCommand's PreRun and RunE;
	// only the signal context is ours, so shutdown order (apiserver, then etcd) is too.
	if err := s.GenericServerRunOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return err
	}
	rest.SetDefaultWarningHandler(rest.NoWarnings{})
	featureGate := s.GenericServerRunOptions.ComponentGlobalsRegistry.FeatureGateFor(basecompatibility.DefaultKubeComponent)
	if err := logsapi.ValidateAndApply(s.Logs, featureGate); err != nil {
		return err
	}
	completed, err := s.Complete(ctx)
	if err != nil {
		return err
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return utilerrors.NewAggregate(errs)
	}
	return app.Run(ctx, completed)
}
