package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

const contextName = "portico-testcluster"

// writeKubeconfig writes a kubeconfig for server that verifies the serving certificate
// against the harness CA and authenticates with the admin bearer token.
func writeKubeconfig(path, server string, pki pkiFiles) error {
	ca, err := os.ReadFile(pki.caCert)
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[contextName] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos[adminUser] = &clientcmdapi.AuthInfo{Token: pki.tokenValue}
	cfg.Contexts[contextName] = &clientcmdapi.Context{Cluster: contextName, AuthInfo: adminUser, Namespace: "default"}
	cfg.CurrentContext = contextName
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, data, 0o600)
}

// errStopped is returned by waitReady when the apiserver finished before it was ready.
var errStopped = errors.New("kube-apiserver stopped")

// waitReady polls server/readyz until it answers 200 "ok" (nil), ctx ends (ctx.Err()),
// or served is closed (errStopped).
func waitReady(ctx context.Context, server string, pki pkiFiles, served <-chan struct{}) error {
	ca, err := os.ReadFile(pki.caCert)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return fmt.Errorf("no certificate in %s", pki.caCert)
	}
	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}
	defer client.CloseIdleConnections()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if readyzOK(ctx, client, server, pki.tokenValue) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-served:
			return errStopped
		case <-tick.C:
		}
	}
}

func readyzOK(ctx context.Context, client *http.Client, server, token string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+"/readyz", nil)
	if err != nil {
		return false
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode == http.StatusOK && strings.TrimSpace(string(body)) == "ok"
}
