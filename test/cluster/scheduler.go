package main

import (
	"context"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
)

// scheduler is the stand-in for kube-scheduler: it binds each pending pod of the default
// scheduler to the Ready node that matches its nodeSelector and required node affinity
// and has the fewest pods. Taints, tolerations, resources beyond the pod count, and
// (anti-)affinity between pods are not considered.
type scheduler struct {
	client   kubernetes.Interface
	pods     cache.Indexer
	nodes    cache.Indexer
	queue    workqueue.TypedRateLimitingInterface[string]
	recorder record.EventRecorder
	// assumed holds pods this scheduler bound that its informer has not shown bound yet (key ->
	// node), as kube-scheduler's assume cache does: without it, replicas created together are
	// all counted against an empty node and land on the same one. Only the scheduling
	// goroutine touches it.
	assumed map[string]string
}

const schedulerName = v1.DefaultSchedulerName

// runScheduler starts the scheduler stand-in on factory's pod and node informers.
func runScheduler(ctx context.Context, client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) error {
	s := &scheduler{
		client:   client,
		pods:     factory.Core().V1().Pods().Informer().GetIndexer(),
		nodes:    factory.Core().V1().Nodes().Informer().GetIndexer(),
		queue:    workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
		recorder: recorder,
		assumed:  map[string]string{},
	}
	enqueue := func(obj any) {
		if pod, ok := obj.(*v1.Pod); ok && s.wants(pod) {
			if key, err := cache.MetaNamespaceKeyFunc(pod); err == nil {
				s.queue.Add(key)
			}
		}
	}
	if _, err := factory.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		return err
	}
	// A node that appears or changes may fit pods that fitted nowhere.
	if _, err := factory.Core().V1().Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.requeuePending() },
		UpdateFunc: func(any, any) { s.requeuePending() },
	}); err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		s.queue.ShutDown()
	}()
	go func() {
		if !cache.WaitForCacheSync(ctx.Done(), factory.Core().V1().Pods().Informer().HasSynced, factory.Core().V1().Nodes().Informer().HasSynced) {
			return
		}
		for s.next(ctx) {
		}
	}()
	return nil
}

// wants says whether pod is this scheduler's to bind.
func (s *scheduler) wants(pod *v1.Pod) bool {
	return pod.Spec.NodeName == "" && pod.DeletionTimestamp == nil &&
		(pod.Spec.SchedulerName == "" || pod.Spec.SchedulerName == schedulerName) &&
		pod.Status.Phase != v1.PodSucceeded && pod.Status.Phase != v1.PodFailed
}

func (s *scheduler) requeuePending() {
	for _, obj := range s.pods.List() {
		if pod := obj.(*v1.Pod); s.wants(pod) {
			if key, err := cache.MetaNamespaceKeyFunc(pod); err == nil {
				s.queue.Add(key)
			}
		}
	}
}

func (s *scheduler) next(ctx context.Context) bool {
	key, quit := s.queue.Get()
	if quit {
		return false
	}
	defer s.queue.Done(key)
	if err := s.schedule(ctx, key); err != nil {
		klog.Warningf("scheduler: %s: %v", key, err)
		s.queue.AddRateLimited(key)
		return true
	}
	s.queue.Forget(key)
	return true
}

func (s *scheduler) schedule(ctx context.Context, key string) error {
	obj, exists, err := s.pods.GetByKey(key)
	if err != nil || !exists {
		return err
	}
	pod := obj.(*v1.Pod)
	if !s.wants(pod) {
		return nil
	}
	node, reason := s.pick(pod)
	if node == "" {
		s.recorder.Eventf(pod, v1.EventTypeWarning, "FailedScheduling", "0/%d nodes are available: %s", len(s.nodes.List()), reason)
		s.queue.AddAfter(key, 5*time.Second)
		return s.markUnschedulable(ctx, pod, reason)
	}
	binding := &v1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     v1.ObjectReference{Kind: "Node", Name: node},
	}
	if err := s.client.CoreV1().Pods(pod.Namespace).Bind(ctx, binding, metav1.CreateOptions{}); err != nil {
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil // deleted, or bound by someone else meanwhile
		}
		return err
	}
	s.assumed[key] = node
	s.recorder.Eventf(pod, v1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, node)
	return nil
}

// pick returns the matching Ready node with the fewest non-terminal pods, or "" and why none.
func (s *scheduler) pick(pod *v1.Pod) (string, string) {
	required := nodeaffinity.GetRequiredNodeAffinity(pod)
	counts := map[string]int{}
	for _, obj := range s.pods.List() {
		p := obj.(*v1.Pod)
		if p.Spec.NodeName != "" && p.Status.Phase != v1.PodSucceeded && p.Status.Phase != v1.PodFailed {
			counts[p.Spec.NodeName]++
		}
	}
	for key, node := range s.assumed {
		obj, exists, _ := s.pods.GetByKey(key)
		if !exists || obj.(*v1.Pod).Spec.NodeName != "" {
			delete(s.assumed, key) // gone, or the informer shows it bound (counted above)
			continue
		}
		counts[node]++
	}
	best, bestCount := "", 0
	notReady, mismatched, full := 0, 0, 0
	for _, obj := range s.nodes.List() {
		node := obj.(*v1.Node)
		if !nodeReady(node) || node.Spec.Unschedulable {
			notReady++
			continue
		}
		if ok, _ := required.Match(node); !ok {
			mismatched++
			continue
		}
		if counts[node.Name] >= maxPodsPerNode {
			full++
			continue
		}
		if best == "" || counts[node.Name] < bestCount || (counts[node.Name] == bestCount && node.Name < best) {
			best, bestCount = node.Name, counts[node.Name]
		}
	}
	if best != "" {
		return best, ""
	}
	return "", fmt.Sprintf("%d not ready or unschedulable, %d didn't match Pod's node affinity/selector, %d too many pods", notReady, mismatched, full)
}

func (s *scheduler) markUnschedulable(ctx context.Context, pod *v1.Pod, reason string) error {
	for _, c := range pod.Status.Conditions {
		if c.Type == v1.PodScheduled && c.Status == v1.ConditionFalse && c.Message == reason {
			return nil
		}
	}
	updated := pod.DeepCopy()
	cond := v1.PodCondition{Type: v1.PodScheduled, Status: v1.ConditionFalse, Reason: v1.PodReasonUnschedulable, Message: reason, LastTransitionTime: metav1.Now()}
	replaced := false
	for i := range updated.Status.Conditions {
		if updated.Status.Conditions[i].Type == v1.PodScheduled {
			updated.Status.Conditions[i] = cond
			replaced = true
		}
	}
	if !replaced {
		updated.Status.Conditions = append(updated.Status.Conditions, cond)
	}
	_, err := s.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

func nodeReady(node *v1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == v1.NodeReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}
