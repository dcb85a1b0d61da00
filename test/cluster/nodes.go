package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

const (
	nodeLeaseNamespace = "kube-node-lease"
	leaseDuration      = 40 // seconds, the kubelet's --node-lease-duration-seconds default
	leaseRenew         = 10 * time.Second
	nodeStatusEvery    = time.Minute
	kubeletVersion     = "v1.36.3"
	runtimeVersion     = "portico-testcluster://1"
	maxPodsPerNode     = 110
)

// nodeName is the name of fake Node i (0-based).
func nodeName(i int) string { return fmt.Sprintf("portico-node-%d", i+1) }

// nodeObject is Node i as the kubelet stand-in registers it: Ready, its address on the
// pod bridge as InternalIP, this machine's CPUs and memory as capacity.
func nodeObject(i int, address string) *v1.Node {
	name := nodeName(i)
	capacity := v1.ResourceList{
		v1.ResourceCPU:              *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		v1.ResourceMemory:           *resource.NewQuantity(memTotal(), resource.BinarySI),
		v1.ResourcePods:             *resource.NewQuantity(maxPodsPerNode, resource.DecimalSI),
		v1.ResourceEphemeralStorage: resource.MustParse("20Gi"),
	}
	return &v1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				v1.LabelHostname:   name,
				v1.LabelOSStable:   runtime.GOOS,
				v1.LabelArchStable: runtime.GOARCH,
			},
		},
		Status: v1.NodeStatus{
			Capacity:    capacity,
			Allocatable: capacity,
			Addresses: []v1.NodeAddress{
				{Type: v1.NodeInternalIP, Address: address},
				{Type: v1.NodeHostName, Address: name},
			},
			NodeInfo: v1.NodeSystemInfo{
				KubeletVersion:          kubeletVersion,
				OperatingSystem:         runtime.GOOS,
				Architecture:            runtime.GOARCH,
				ContainerRuntimeVersion: runtimeVersion,
				OSImage:                 "portico-testcluster (processes in network namespaces)",
			},
			Phase:           v1.NodeRunning,
			DaemonEndpoints: v1.NodeDaemonEndpoints{KubeletEndpoint: v1.DaemonEndpoint{Port: kubeletPort}},
		},
	}
}

// nodeConditions is the kubelet's healthy set, stamped with now.
func nodeConditions(now metav1.Time, since metav1.Time) []v1.NodeCondition {
	cond := func(t v1.NodeConditionType, status v1.ConditionStatus, reason, message string) v1.NodeCondition {
		return v1.NodeCondition{Type: t, Status: status, Reason: reason, Message: message, LastHeartbeatTime: now, LastTransitionTime: since}
	}
	return []v1.NodeCondition{
		cond(v1.NodeMemoryPressure, v1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
		cond(v1.NodeDiskPressure, v1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
		cond(v1.NodePIDPressure, v1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
		cond(v1.NodeReady, v1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"),
	}
}

// registerNodes creates (or refreshes, on a restart) the fake Nodes with Ready status,
// then keeps their Leases renewed every 10 s and their status heartbeat every minute
// until ctx ends.
func registerNodes(ctx context.Context, client kubernetes.Interface, addresses []string) error {
	since := metav1.Now()
	for i, address := range addresses {
		want := nodeObject(i, address)
		node, err := client.CoreV1().Nodes().Get(ctx, want.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			node, err = client.CoreV1().Nodes().Create(ctx, want, metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("register node %s: %w", want.Name, err)
			}
		case err != nil:
			return fmt.Errorf("get node %s: %w", want.Name, err)
		default:
			for k, v := range want.Labels {
				if node.Labels == nil {
					node.Labels = map[string]string{}
				}
				node.Labels[k] = v
			}
			if node, err = client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("update node %s: %w", want.Name, err)
			}
		}
		node.Status = want.Status
		node.Status.Conditions = nodeConditions(metav1.Now(), since)
		if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("node %s status: %w", want.Name, err)
		}
		if err := renewLease(ctx, client, want.Name); err != nil {
			return err
		}
	}
	go heartbeat(ctx, client, addresses, since)
	return nil
}

func heartbeat(ctx context.Context, client kubernetes.Interface, addresses []string, since metav1.Time) {
	lease := time.NewTicker(leaseRenew)
	defer lease.Stop()
	status := time.NewTicker(nodeStatusEvery)
	defer status.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-lease.C:
			for i := range addresses {
				if err := renewLease(ctx, client, nodeName(i)); err != nil && ctx.Err() == nil {
					klog.Warningf("node lease %s: %v", nodeName(i), err)
				}
			}
		case <-status.C:
			for i, address := range addresses {
				node, err := client.CoreV1().Nodes().Get(ctx, nodeName(i), metav1.GetOptions{})
				if err != nil {
					continue
				}
				node.Status = nodeObject(i, address).Status
				node.Status.Conditions = nodeConditions(metav1.Now(), since)
				if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
					klog.Warningf("node status %s: %v", node.Name, err)
				}
			}
		}
	}
}

// renewLease creates or renews the node's Lease in kube-node-lease, as the kubelet does.
func renewLease(ctx context.Context, client kubernetes.Interface, name string) error {
	leases := client.CoordinationV1().Leases(nodeLeaseNamespace)
	now := metav1.NewMicroTime(time.Now())
	lease, err := leases.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: nodeLeaseNamespace},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(name),
				LeaseDurationSeconds: ptr.To[int32](leaseDuration),
				RenewTime:            &now,
			},
		}, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	lease.Spec.HolderIdentity = ptr.To(name)
	lease.Spec.LeaseDurationSeconds = ptr.To[int32](leaseDuration)
	lease.Spec.RenewTime = &now
	_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
	return err
}

// memTotal is MemTotal from /proc/meminfo in bytes (4 GiB if unreadable).
func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 4 << 30
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			if kb, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
				return kb << 10
			}
		}
	}
	return 4 << 30
}
