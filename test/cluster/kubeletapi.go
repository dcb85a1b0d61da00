package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/klog/v2"
)

// kubeletPort is the port of the kubelet API on every fake Node's address (the Node's
// status.daemonEndpoints says so; the apiserver dials InternalIP:kubeletPort).
const kubeletPort = 10250

// serveKubeletAPI serves the part of the kubelet API the apiserver proxies that the stand-in
// can honour: GET /containerLogs/NAMESPACE/POD/CONTAINER (`kubectl logs`, the pods/log
// subresource) with sinceTime, sinceSeconds, tailLines, timestamps and limitBytes, read from
// the CRI log the kubelet stand-in writes. follow and previous are refused (400), as are
// exec, attach and port-forward (404). HTTPS with a self-signed certificate made at start
// (the apiserver does not verify kubelets without --kubelet-certificate-authority).
func serveKubeletAPI(ctx context.Context, addresses []string, podsDir string) error {
	cert, err := selfSignedCert(addresses)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", func(w http.ResponseWriter, r *http.Request) {
		containerLogs(w, r, podsDir)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	for _, address := range addresses {
		ln, err := net.Listen("tcp", net.JoinHostPort(address, strconv.Itoa(kubeletPort)))
		if err != nil {
			return fmt.Errorf("kubelet API on %s: %w", address, err)
		}
		server := &http.Server{
			Handler:           mux,
			TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          nil,
		}
		go func() {
			if err := server.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
				klog.Warningf("kubelet API on %s: %v", address, err)
			}
		}()
		go func() {
			<-ctx.Done()
			_ = server.Close()
		}()
	}
	return nil
}

func selfSignedCert(addresses []string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "portico-testcluster kubelet"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, a := range addresses {
		template.IPAddresses = append(template.IPAddresses, net.ParseIP(a))
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// containerLogs answers one /containerLogs request from the newest CRI log of that pod's
// container (pods/NAMESPACE_POD_UID/CONTAINER.log.cri).
func containerLogs(w http.ResponseWriter, r *http.Request, podsDir string) {
	ns, pod, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	q := r.URL.Query()
	for _, unsupported := range []string{"follow", "previous"} {
		if v := q.Get(unsupported); v == "true" || v == "1" {
			http.Error(w, unsupported+" is not supported by the portico test cluster's kubelet stand-in", http.StatusBadRequest)
			return
		}
	}
	var since time.Time
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			http.Error(w, "sinceTime: "+err.Error(), http.StatusBadRequest)
			return
		}
		since = t
	}
	if v := q.Get("sinceSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			http.Error(w, "sinceSeconds must be a positive integer", http.StatusBadRequest)
			return
		}
		since = time.Now().Add(-time.Duration(n) * time.Second)
	}
	tail, limit := int64(-1), int64(-1)
	for name, dst := range map[string]*int64{"tailLines": &tail, "limitBytes": &limit} {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				http.Error(w, name+" must be a non-negative integer", http.StatusBadRequest)
				return
			}
			*dst = n
		}
	}
	timestamps := q.Get("timestamps") == "true" || q.Get("timestamps") == "1"
	if strings.ContainsAny(ns+pod+container, "/_") || strings.Contains(ns+pod+container, "..") {
		http.Error(w, "bad namespace, pod or container name", http.StatusBadRequest)
		return
	}
	file := newestLog(podsDir, ns, pod, container)
	if file == "" {
		http.Error(w, fmt.Sprintf("no log for container %q of pod %s/%s", container, ns, pod), http.StatusNotFound)
		return
	}
	f, err := os.Open(file)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer f.Close()
	var out []string
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 64<<10), 1<<20)
	for scanner.Scan() {
		// RFC3339NANO STREAM TAG TEXT
		parts := strings.SplitN(scanner.Text(), " ", 4)
		if len(parts) < 3 {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, parts[0])
		if err != nil || (!since.IsZero() && at.Before(since)) {
			continue
		}
		text := ""
		if len(parts) == 4 {
			text = parts[3]
		}
		if parts[2] == "F" {
			text += "\n"
		}
		if timestamps {
			text = parts[0] + " " + text
		}
		out = append(out, text)
	}
	if tail >= 0 && int64(len(out)) > tail {
		out = out[int64(len(out))-tail:]
	}
	body := strings.Join(out, "")
	if limit >= 0 && int64(len(body)) > limit {
		body = body[:limit]
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(body))
}

// newestLog is the CRI log of the newest pod directory for ns/pod that has container's.
func newestLog(podsDir, ns, pod, container string) string {
	dirs, _ := filepath.Glob(filepath.Join(podsDir, ns+"_"+pod+"_*"))
	var best string
	var bestTime time.Time
	for _, d := range dirs {
		file := filepath.Join(d, container+".log.cri")
		info, err := os.Stat(file)
		if err == nil && (best == "" || info.ModTime().After(bestTime)) {
			best, bestTime = file, info.ModTime()
		}
	}
	return best
}
