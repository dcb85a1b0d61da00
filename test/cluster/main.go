// Command portico-testcluster runs a real kube-apiserver backed by an embedded etcd, both
// in this one process, on loopback, for Portico's cluster tests, plus what makes pods
// run: kube-controller-manager's controllers (deployment, replicaset, endpointslice,
// endpointslice-mirroring, namespace, serviceaccount, service-account token, garbage
// collector) in-process, a scheduler stand-in that binds pods to fake Nodes, and a
// kubelet stand-in that runs each pod's containers as local processes in a network
// namespace of its own (see README.md).
//
//	portico-testcluster --data-dir DIR [--port N] [--ready-timeout 3m] [--watch-parent]
//	                    [--workloads=false] [--nodes N] [--images-dir DIR]
//	                    [--namespace-controller=false] [--crds-dir DIR|none]
//	                    [-- kube-apiserver flags...]
//
// It writes DIR/kubeconfig and DIR/token, prints one line
//
//	READY kubeconfig=DIR/kubeconfig server=https://127.0.0.1:PORT
//
// on stdout once /readyz answers ok, the CRDs of --crds-dir (the Gateway API standard
// channel) are Established, and the controllers, Nodes and kubelet stand-in run;
// on SIGTERM or SIGINT it stops every pod process and removes the pod network, stops the
// apiserver, then etcd, and exits 0. Logs go to stderr; container output goes to
// DIR/pods/NAMESPACE_POD_UID/CONTAINER.log. Starting again on the same DIR (and --port)
// brings back the same objects, credentials and address; pods that ran are restarted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
	_ "time/tzdata" // CronJob timeZone validation, as in the stock kube-apiserver binary

	"k8s.io/klog/v2"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == mountExecCommand {
		os.Exit(mountExec(os.Args[2:]))
	}
	os.Exit(run())
}

func run() int {
	fl := flag.NewFlagSet("portico-testcluster", flag.ContinueOnError)
	dataDir := fl.String("data-dir", "", "directory for etcd data, certificates, token and kubeconfig (required)")
	port := fl.Int("port", 0, "secure port on 127.0.0.1; 0 picks a free one")
	readyTimeout := fl.Duration("ready-timeout", 3*time.Minute, "give up if /readyz is not ok by then")
	nsController := fl.Bool("namespace-controller", true, "run the namespace controller so deleted namespaces go away")
	workloads := fl.Bool("workloads", true, "run the workload controllers, fake Nodes, scheduler and kubelet stand-ins (pods run)")
	nodes := fl.Int("nodes", 1, fmt.Sprintf("fake Nodes to register (1-%d)", maxNodes))
	imagesDir := fl.String("images-dir", "", "directory of the image binaries (default: images/ next to this executable)")
	crdsDir := fl.String("crds-dir", "", "directory of CRD manifests installed before READY (default: gateway-api-crds/ next to this executable, the Gateway API standard channel build.sh copies from the Go module); 'none' installs nothing")
	watchParent := fl.Bool("watch-parent", false, "stop as on SIGTERM when the parent process goes away (a test runner that crashed)")
	if err := fl.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if *dataDir == "" {
		fmt.Fprintln(os.Stderr, "portico-testcluster: --data-dir is required")
		return 2
	}
	if *nodes < 1 || *nodes > maxNodes {
		fmt.Fprintf(os.Stderr, "portico-testcluster: --nodes must be 1-%d\n", maxNodes)
		return 2
	}
	if *imagesDir == "" {
		exe, err := os.Executable()
		if err != nil {
			return fail(err)
		}
		*imagesDir = filepath.Join(filepath.Dir(exe), "images")
	}
	if *crdsDir == "" {
		exe, err := os.Executable()
		if err != nil {
			return fail(err)
		}
		*crdsDir = filepath.Join(filepath.Dir(exe), "gateway-api-crds")
	}
	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail(err)
	}
	pki, err := ensurePKI(dir)
	if err != nil {
		return fail(err)
	}
	ln, err := listenLoopback(*port)
	if err != nil {
		return fail(err)
	}
	boundPort := ln.Addr().(*net.TCPAddr).Port
	server := "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(boundPort))
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(kubeconfig, server, pki); err != nil {
		return fail(err)
	}

	etcd, etcdURL, err := startEtcd(dir)
	if err != nil {
		ln.Close()
		return fail(err)
	}
	defer etcd.stop()

	sigCtx, stopSignals := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stopSignals()
	ctx, cancel := context.WithCancel(sigCtx)
	defer cancel()
	if *watchParent {
		go cancelWhenOrphaned(ctx, cancel)
	}

	served := make(chan struct{})
	var serveErr error // written once before served is closed
	go func() {
		defer close(served)
		serveErr = runAPIServer(ctx, apiserverArgs(dir, etcdURL, pki, boundPort, *workloads, fl.Args()), ln)
	}()

	readyCtx, cancelReady := context.WithTimeout(ctx, *readyTimeout)
	err = waitReady(readyCtx, server, pki, served)
	cancelReady()
	switch {
	case err == nil:
	case ctx.Err() != nil:
		// Told to stop while starting: a clean stop, not a failure.
		return shutdown(stopSignals, served, 0)
	case errors.Is(err, errStopped):
		return fail(fmt.Errorf("kube-apiserver stopped before ready: %v", serveErr))
	default:
		fmt.Fprintf(os.Stderr, "portico-testcluster: %v\n", err)
		return shutdown(stopSignals, served, 1)
	}
	if *crdsDir != "none" {
		if err := installBundle(ctx, server, pki, *crdsDir); err != nil {
			fmt.Fprintf(os.Stderr, "portico-testcluster: %v\n", err)
			return shutdown(stopSignals, served, 1)
		}
	}
	pods, err := startWorkloads(ctx, server, pki, dir, *imagesDir, *nodes, controllerSet{namespace: *nsController, workloads: *workloads})
	if err != nil {
		fmt.Fprintf(os.Stderr, "portico-testcluster: %v\n", err)
		cancel()
		pods.stop()
		return shutdown(stopSignals, served, 1)
	}
	defer pods.stop()
	fmt.Printf("READY kubeconfig=%s server=%s\n", kubeconfig, server)

	select {
	case <-ctx.Done():
		// Pods first (their processes and network namespaces), while the apiserver stops.
		pods.stop()
		return shutdown(stopSignals, served, 0)
	case <-served:
		return fail(fmt.Errorf("kube-apiserver stopped: %v", serveErr))
	}
}

// shutdown cancels the apiserver and waits for it to finish, then returns code; the
// deferred etcd.stop in run stops etcd after that. Default signal handling is restored
// first, so a second SIGINT/SIGTERM kills the process at once.
func shutdown(stopSignals context.CancelFunc, served <-chan struct{}, code int) int {
	stopSignals()
	select {
	case <-served:
	case <-time.After(60 * time.Second):
		fmt.Fprintln(os.Stderr, "portico-testcluster: kube-apiserver did not stop within 60s")
	}
	klog.Flush()
	return code
}

// cancelWhenOrphaned calls cancel once this process is re-parented, i.e. the process that
// started it has died without stopping it.
func cancelWhenOrphaned(ctx context.Context, cancel context.CancelFunc) {
	parent := os.Getppid()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if os.Getppid() != parent {
				fmt.Fprintln(os.Stderr, "portico-testcluster: parent process is gone; stopping")
				cancel()
				return
			}
		}
	}
}

// listenLoopback binds 127.0.0.1:port. A fixed port may still be held for a moment by a
// previous instance that is exiting (restart tests), so that case is retried briefly.
func listenLoopback(port int) (net.Listener, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(15 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil || port == 0 || !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			return ln, err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func fail(err error) int {
	fmt.Fprintf(os.Stderr, "portico-testcluster: %v\n", err)
	return 1
}
