// Command portico-testcluster runs a real kube-apiserver backed by an embedded etcd, both
// in this one process, on loopback, for Portico's cluster tests. No kubelet, scheduler or
// controller-manager runs: objects are stored, validated, admitted and authorized exactly
// as in a cluster, but nothing acts on them, except the namespace controller, so that
// deleted namespaces finish terminating (--namespace-controller=false turns it off).
//
//	portico-testcluster --data-dir DIR [--port N] [--ready-timeout 3m] [--watch-parent]
//	                    [--namespace-controller=false] [-- kube-apiserver flags...]
//
// It writes DIR/kubeconfig and DIR/token, prints one line
//
//	READY kubeconfig=DIR/kubeconfig server=https://127.0.0.1:PORT
//
// on stdout once /readyz answers ok, and on SIGTERM or SIGINT stops the apiserver, then
// etcd, and exits 0. Logs go to stderr. Everything lives in DIR; starting again on the same
// DIR (and --port) brings back the same objects, credentials and address.
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
	os.Exit(run())
}

func run() int {
	fl := flag.NewFlagSet("portico-testcluster", flag.ContinueOnError)
	dataDir := fl.String("data-dir", "", "directory for etcd data, certificates, token and kubeconfig (required)")
	port := fl.Int("port", 0, "secure port on 127.0.0.1; 0 picks a free one")
	readyTimeout := fl.Duration("ready-timeout", 3*time.Minute, "give up if /readyz is not ok by then")
	nsController := fl.Bool("namespace-controller", true, "run the namespace controller so deleted namespaces go away")
	watchParent := fl.Bool("watch-parent", false, "stop as on SIGTERM when the parent process goes away (a test runner that crashed)")
	if err := fl.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if *dataDir == "" {
		fmt.Fprintln(os.Stderr, "portico-testcluster: --data-dir is required")
		return 2
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
		serveErr = runAPIServer(ctx, apiserverArgs(dir, etcdURL, pki, boundPort, fl.Args()), ln)
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
	if *nsController {
		if err := runNamespaceController(ctx, server, pki); err != nil {
			fmt.Fprintf(os.Stderr, "portico-testcluster: namespace controller: %v\n", err)
			return shutdown(stopSignals, served, 1)
		}
	}
	fmt.Printf("READY kubeconfig=%s server=%s\n", kubeconfig, server)

	select {
	case <-ctx.Done():
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
