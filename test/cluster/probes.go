package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

type probeKind int

const (
	startupProbe probeKind = iota
	readinessProbe
	livenessProbe
)

func (k probeKind) String() string {
	return [...]string{"Startup", "Readiness", "Liveness"}[k]
}

// probeResult is a change the worker acts on: startup passed or failed for good,
// readiness flipped, liveness failed failureThreshold times in a row.
type probeResult struct {
	kind probeKind
	ok   bool
}

// prober runs one container's probes from the host side, as the kubelet does, against
// the pod IP. Only HTTP GET and TCP socket probes exist here; exec and gRPC probes fail
// (with an Event saying why), so a pod that relies on them never turns Ready.
type prober struct {
	container *v1.Container
	podIP     string
	report    func(probeResult)
	unhealthy func(kind probeKind, message string)
}

// run probes until ctx ends: the startup probe first (when there is one), then readiness
// and liveness side by side.
func (p *prober) run(ctx context.Context) {
	if sp := p.container.StartupProbe; sp != nil {
		if !p.loop(ctx, startupProbe, sp) {
			return
		}
	}
	p.report(probeResult{kind: startupProbe, ok: true})
	if lp := p.container.LivenessProbe; lp != nil {
		go p.loop(ctx, livenessProbe, lp)
	}
	if rp := p.container.ReadinessProbe; rp != nil {
		p.loop(ctx, readinessProbe, rp)
	} else {
		p.report(probeResult{kind: readinessProbe, ok: true})
	}
}

// loop probes every periodSeconds after initialDelaySeconds, applying the thresholds.
// A startup loop returns true once it passed, false when it failed for good or ctx ended.
func (p *prober) loop(ctx context.Context, kind probeKind, probe *v1.Probe) bool {
	period := seconds(probe.PeriodSeconds, 10)
	timeout := seconds(probe.TimeoutSeconds, 1)
	successThreshold := int(max(probe.SuccessThreshold, 1))
	failureThreshold := int(max(probe.FailureThreshold, 1))
	if probe.FailureThreshold == 0 {
		failureThreshold = 3
	}
	if !sleepCtx(ctx, time.Duration(probe.InitialDelaySeconds)*time.Second) {
		return false
	}
	successes, failures := 0, 0
	state := false // readiness starts false; liveness and startup are judged by runs
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		ok, message := p.once(ctx, probe, timeout)
		if ctx.Err() != nil {
			return false
		}
		if ok {
			successes, failures = successes+1, 0
		} else {
			successes, failures = 0, failures+1
			p.unhealthy(kind, message)
		}
		switch kind {
		case startupProbe:
			if successes >= 1 {
				return true
			}
			if failures >= failureThreshold {
				p.report(probeResult{kind: startupProbe, ok: false})
				return false
			}
		case readinessProbe:
			if !state && successes >= successThreshold {
				state = true
				p.report(probeResult{kind: readinessProbe, ok: true})
			} else if state && failures >= failureThreshold {
				state = false
				p.report(probeResult{kind: readinessProbe, ok: false})
			}
		case livenessProbe:
			if failures == failureThreshold {
				p.report(probeResult{kind: livenessProbe, ok: false})
			}
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

// once runs the probe a single time.
func (p *prober) once(ctx context.Context, probe *v1.Probe, timeout time.Duration) (bool, string) {
	switch {
	case probe.HTTPGet != nil:
		return p.httpGet(ctx, probe.HTTPGet, timeout)
	case probe.TCPSocket != nil:
		port, err := p.port(probe.TCPSocket.Port)
		if err != nil {
			return false, err.Error()
		}
		host := p.podIP
		if probe.TCPSocket.Host != "" {
			host = probe.TCPSocket.Host
		}
		dialer := net.Dialer{Timeout: timeout}
		conn, err := dialer.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return false, fmt.Sprintf("dial tcp %s: %v", net.JoinHostPort(host, strconv.Itoa(port)), err)
		}
		conn.Close()
		return true, ""
	case probe.Exec != nil:
		return false, "exec probes are not supported by the portico test cluster (containers are processes without a filesystem of their own)"
	case probe.GRPC != nil:
		return false, "gRPC probes are not supported by the portico test cluster"
	}
	return false, "probe has no handler"
}

func (p *prober) httpGet(ctx context.Context, g *v1.HTTPGetAction, timeout time.Duration) (bool, string) {
	port, err := p.port(g.Port)
	if err != nil {
		return false, err.Error()
	}
	host := p.podIP
	if g.Host != "" {
		host = g.Host
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	target := url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port)), Path: g.Path}
	if i := strings.IndexByte(g.Path, '?'); i >= 0 {
		target.Path, target.RawQuery = g.Path[:i], g.Path[i+1:]
	}
	reqCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, target.String(), nil)
	if err != nil {
		return false, err.Error()
	}
	req.Header.Set("User-Agent", "kube-probe/1.36")
	req.Header.Set("Accept", "*/*")
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
		} else {
			req.Header.Add(h.Name, h.Value)
		}
	}
	client := http.Client{
		Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec // the kubelet does not verify probe certificates either
		// A redirect counts as success, as in the kubelet (code < 400); it is not followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, fmt.Sprintf("Get %q: %v", target.String(), err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		return true, ""
	}
	return false, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode)
}

// port resolves a probe port: a number, or the name of one of the container's ports.
func (p *prober) port(port intstr.IntOrString) (int, error) {
	if port.Type == intstr.Int {
		return port.IntValue(), nil
	}
	for _, cp := range p.container.Ports {
		if cp.Name == port.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(port.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("container %q has no port named %q", p.container.Name, port.StrVal)
}

func seconds(n int32, fallback int) time.Duration {
	if n <= 0 {
		return time.Duration(fallback) * time.Second
	}
	return time.Duration(n) * time.Second
}

// sleepCtx sleeps d; false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
