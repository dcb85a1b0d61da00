package main

import (
	"context"
	"errors"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
)

// Stopping containers: signals, graceful deletion with preStop hooks, sandbox teardown.

// stop sends SIGTERM to the container's process group and SIGKILL after grace.
func (w *podWorker) stop(pod *v1.Pod, c *container, grace time.Duration) {
	if !c.running {
		return
	}
	pid := c.pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	if c.killTimer != nil {
		c.killTimer.Stop()
	}
	c.killTimer = time.AfterFunc(grace, func() { _ = syscall.Kill(-pid, syscall.SIGKILL) })
}

// killAll signals every running container's process group.
func (w *podWorker) killAll(sig syscall.Signal) {
	for _, c := range w.containers {
		if c.running {
			_ = syscall.Kill(-c.pid, sig)
		}
		if c.restartTimer != nil {
			c.restartTimer.Stop()
		}
	}
}

// killNow SIGKILLs every container, waits briefly for the exits and removes the sandbox:
// the harness is stopping, or the pod object was deleted outright.
func (w *podWorker) killNow() {
	w.killAll(syscall.SIGKILL)
	w.waitExits(5 * time.Second)
	w.teardown()
}

// waitExits collects process exits for at most d (after a SIGKILL, so briefly).
func (w *podWorker) waitExits(d time.Duration) {
	deadline := time.After(d)
	for w.anyRunning() {
		select {
		case ev := <-w.events:
			if ev.exited != nil && ev.gen == w.containers[ev.idx].gen {
				w.containers[ev.idx].running = false
			}
		case <-deadline:
			return
		}
	}
}

func (w *podWorker) anyRunning() bool {
	for _, c := range w.containers {
		if c.running {
			return true
		}
	}
	return false
}

func (w *podWorker) teardown() {
	for _, c := range w.containers {
		if c.stopProbes != nil {
			c.stopProbes()
		}
		if c.restartTimer != nil {
			c.restartTimer.Stop()
		}
		if c.killTimer != nil {
			c.killTimer.Stop()
		}
	}
	if w.sandbox != nil {
		w.k.network.removeSandbox(w.sandbox)
		w.sandbox = nil
	}
}

// gracePeriod is the pod's deletion grace period in seconds: the one given with the
// delete, else terminationGracePeriodSeconds, else 30.
func gracePeriod(pod *v1.Pod) int64 {
	if pod.DeletionGracePeriodSeconds != nil {
		return *pod.DeletionGracePeriodSeconds
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return *pod.Spec.TerminationGracePeriodSeconds
	}
	return int64(defaultGracePeriod / time.Second)
}

// terminate carries out a graceful deletion: each running container's preStop hook, then
// SIGTERM, then SIGKILL when the grace period (counted from now, shortened by a later
// delete with a smaller grace) runs out; then the sandbox goes and the pod object is
// deleted for good (grace 0, UID precondition), as the kubelet does.
func (w *podWorker) terminate(ctx context.Context) {
	w.terminating = true
	pod, _ := w.pod()
	grace := time.Duration(gracePeriod(pod)) * time.Second
	deadline := time.Now().Add(grace)
	for _, c := range w.containers {
		if c.restartTimer != nil {
			c.restartTimer.Stop()
		}
		if !c.running {
			if c.terminated == nil && c.everStarted && c.lastTerm != nil {
				c.terminated = c.lastTerm
			}
			c.waiting = nil
			continue
		}
		w.recorder.Eventf(pod, v1.EventTypeNormal, "Killing", "Stopping container %s", c.spec.Name)
		go w.preStopThenTerm(ctx, pod, c.spec, c.pid, w.sandbox.ip, deadline)
	}
	w.syncStatus(ctx)
	kill := time.NewTimer(grace)
	defer kill.Stop()
	for w.anyRunning() {
		select {
		case <-ctx.Done():
			w.killNow()
			return
		case <-w.notify:
			latest, gone := w.pod()
			if gone {
				w.killAll(syscall.SIGKILL)
				continue
			}
			if shorter := time.Now().Add(time.Duration(gracePeriod(latest)) * time.Second); shorter.Before(deadline) {
				deadline = shorter
				kill.Reset(time.Until(deadline))
			}
		case ev := <-w.events:
			w.handle(ctx, ev)
		case <-kill.C:
			w.killAll(syscall.SIGKILL)
		}
		w.syncStatus(ctx)
	}
	w.finalPhase = v1.PodSucceeded
	for _, c := range w.containers {
		if c.terminated == nil || c.terminated.ExitCode != 0 {
			w.finalPhase = v1.PodFailed
		}
	}
	w.syncStatus(ctx)
	w.teardown()
	if _, gone := w.pod(); gone {
		return
	}
	err := w.k.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: new(int64),
		Preconditions:      metav1.NewUIDPreconditions(string(pod.UID)),
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && ctx.Err() == nil {
		klog.Warningf("kubelet: final delete of %s/%s: %v", pod.Namespace, pod.Name, err)
	}
}

// preStopThenTerm runs the container's preStop hook (bounded by deadline), then sends
// SIGTERM to its process group. Sleep hooks, exec hooks that only sleep, and HTTP GET
// hooks run; other exec hooks are refused with an Event.
func (w *podWorker) preStopThenTerm(ctx context.Context, pod *v1.Pod, spec v1.Container, pid int, podIP string, deadline time.Time) {
	hookCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	if spec.Lifecycle != nil && spec.Lifecycle.PreStop != nil {
		if err := runPreStop(hookCtx, spec.Lifecycle.PreStop, &spec, podIP); err != nil {
			w.recorder.Eventf(pod, v1.EventTypeWarning, "FailedPreStopHook", "PreStopHook failed: %v", err)
		}
	}
	_ = syscall.Kill(-pid, syscall.SIGTERM)
}

// errUnsupportedHook is why an exec hook other than a sleep did not run.
var errUnsupportedHook = errors.New("exec hooks other than `sleep N` are not supported by the portico test cluster")
