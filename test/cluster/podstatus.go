package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

// ownConditions are the pod conditions the kubelet owns; the rest (PodScheduled,
// readiness gates, DisruptionTarget) are kept as the API has them.
var ownConditions = []v1.PodConditionType{v1.PodReadyToStartContainers, v1.PodInitialized, v1.ContainersReady, v1.PodReady}

// syncStatus sends the pod status as the worker knows it (a JSON merge patch of the
// status subresource with the pod's UID as precondition), when it changed since the
// last successful send.
func (w *podWorker) syncStatus(ctx context.Context) {
	pod, gone := w.pod()
	if gone || ctx.Err() != nil {
		return
	}
	status := w.status(pod)
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"uid": pod.UID}, "status": status})
	if err != nil || string(patch) == w.lastPatch {
		return
	}
	_, err = w.k.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, patch, metav1.PatchOptions{}, "status")
	switch {
	case err == nil:
		w.lastPatch = string(patch)
	case apierrors.IsNotFound(err) || ctx.Err() != nil:
	default:
		klog.Warningf("kubelet: status of %s/%s: %v", pod.Namespace, pod.Name, err)
	}
}

// status is the PodStatus the kubelet reports for what runs now.
func (w *podWorker) status(pod *v1.Pod) v1.PodStatus {
	s := v1.PodStatus{Phase: w.phase(pod), StartTime: &w.startTime, QOSClass: pod.Status.QOSClass}
	if w.hostIP != "" {
		s.HostIP = w.hostIP
		s.HostIPs = []v1.HostIP{{IP: w.hostIP}}
	}
	if w.sandbox != nil {
		s.PodIP = w.sandbox.ip
		s.PodIPs = []v1.PodIP{{IP: w.sandbox.ip}}
	}
	var unready []string
	for _, c := range w.containers {
		cs := w.containerStatus(c)
		s.ContainerStatuses = append(s.ContainerStatuses, cs)
		if !cs.Ready {
			unready = append(unready, c.spec.Name)
		}
	}
	if w.podProblem != nil {
		s.Reason, s.Message = w.podProblem.reason, w.podProblem.message
	}

	containersReady := len(unready) == 0 && s.Phase == v1.PodRunning
	ready := containersReady
	var readyReason, readyMessage string
	if !containersReady {
		readyReason, readyMessage = "ContainersNotReady", fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
		if s.Phase == v1.PodSucceeded || s.Phase == v1.PodFailed {
			readyReason, readyMessage = "PodCompleted", ""
		}
	}
	for _, gate := range pod.Spec.ReadinessGates {
		if !conditionTrue(pod.Status.Conditions, gate.ConditionType) && ready {
			ready, readyReason, readyMessage = false, "ReadinessGatesNotReady", fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist or is not True", gate.ConditionType)
		}
	}
	w.setCondition(v1.PodReadyToStartContainers, w.sandbox != nil, "", "")
	w.setCondition(v1.PodInitialized, true, "", "")
	w.setCondition(v1.ContainersReady, containersReady, readyReason, readyMessage)
	w.setCondition(v1.PodReady, ready, readyReason, readyMessage)
	for _, c := range pod.Status.Conditions {
		if !isOwnCondition(c.Type) {
			s.Conditions = append(s.Conditions, c)
		}
	}
	for _, t := range ownConditions {
		s.Conditions = append(s.Conditions, w.conds[t])
	}
	return s
}

// phase: Pending until every container has started once, Running after, and for a pod
// whose containers all ended for good (restartPolicy, or deletion) Succeeded or Failed.
func (w *podWorker) phase(pod *v1.Pod) v1.PodPhase {
	if w.finalPhase != "" {
		return w.finalPhase
	}
	if w.sandbox == nil {
		return v1.PodPending
	}
	allDone, allZero := true, true
	for _, c := range w.containers {
		if !c.everStarted {
			return v1.PodPending
		}
		if c.running || c.terminated == nil {
			allDone = false
		} else if c.terminated.ExitCode != 0 {
			allZero = false
		}
	}
	if allDone && pod.Spec.RestartPolicy != v1.RestartPolicyAlways {
		if allZero {
			return v1.PodSucceeded
		}
		return v1.PodFailed
	}
	return v1.PodRunning
}

func (w *podWorker) containerStatus(c *container) v1.ContainerStatus {
	cs := v1.ContainerStatus{
		Name: c.spec.Name, Image: c.spec.Image, RestartCount: c.restartCount,
		Ready: c.running && c.ready, Started: ptr.To(c.running && c.started),
	}
	if c.binary != "" {
		cs.ImageID = "portico-testcluster://" + filepath.Base(c.binary)
	}
	if c.everStarted {
		cs.ContainerID = "process://" + strconv.Itoa(c.pid)
	}
	switch {
	case c.running:
		cs.State.Running = &v1.ContainerStateRunning{StartedAt: metav1.NewTime(c.startedAt)}
	case c.terminated != nil:
		cs.State.Terminated = c.terminated
	case c.waiting != nil:
		cs.State.Waiting = c.waiting
	default:
		cs.State.Waiting = &v1.ContainerStateWaiting{Reason: "ContainerCreating"}
	}
	if w.podProblem != nil && !c.everStarted {
		cs.State = v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: w.podProblem.reason, Message: w.podProblem.message}}
	}
	if c.lastTerm != nil {
		cs.LastTerminationState.Terminated = c.lastTerm
	}
	return cs
}

// setCondition records a condition, keeping its transition time while its status holds.
func (w *podWorker) setCondition(t v1.PodConditionType, ok bool, reason, message string) {
	status := v1.ConditionFalse
	if ok {
		status = v1.ConditionTrue
		reason, message = "", ""
	}
	old, seen := w.conds[t]
	since := metav1.Now()
	if seen && old.Status == status {
		since = old.LastTransitionTime
	}
	w.conds[t] = v1.PodCondition{Type: t, Status: status, Reason: reason, Message: message, LastTransitionTime: since}
}

func isOwnCondition(t v1.PodConditionType) bool {
	for _, own := range ownConditions {
		if t == own {
			return true
		}
	}
	return false
}

func conditionTrue(conds []v1.PodCondition, t v1.PodConditionType) bool {
	for _, c := range conds {
		if c.Type == t {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

// runPreStop runs a preStop hook until it ends or ctx (the grace period) does.
func runPreStop(ctx context.Context, hook *v1.LifecycleHandler, c *v1.Container, podIP string) error {
	switch {
	case hook.Sleep != nil:
		sleepCtx(ctx, time.Duration(hook.Sleep.Seconds)*time.Second)
		return nil
	case hook.Exec != nil:
		d, ok := sleepCommand(hook.Exec.Command)
		if !ok {
			return fmt.Errorf("%w: %q", errUnsupportedHook, hook.Exec.Command)
		}
		sleepCtx(ctx, d)
		return nil
	case hook.HTTPGet != nil:
		p := &prober{container: c, podIP: podIP}
		timeout := time.Until(deadlineOr(ctx, time.Now().Add(30*time.Second)))
		if ok, message := p.httpGet(ctx, hook.HTTPGet, timeout); !ok {
			return fmt.Errorf("HTTP preStop hook: %s", message)
		}
		return nil
	}
	return fmt.Errorf("preStop hook has no supported handler")
}

func deadlineOr(ctx context.Context, fallback time.Time) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return fallback
}

// sleepCommand recognises `sleep N`, `/bin/sleep N` and `sh -c "sleep N"` (N seconds,
// possibly fractional).
func sleepCommand(cmd []string) (time.Duration, bool) {
	if len(cmd) == 3 && (filepath.Base(cmd[0]) == "sh" || filepath.Base(cmd[0]) == "bash") && cmd[1] == "-c" {
		cmd = strings.Fields(cmd[2])
	}
	if len(cmd) != 2 || filepath.Base(cmd[0]) != "sleep" {
		return 0, false
	}
	n, err := strconv.ParseFloat(cmd[1], 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return time.Duration(n * float64(time.Second)), true
}
