package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Pod networking: each harness claims one /24 of podRange, 10.217.N.0/24, by holding an
// flock on lockDir/net-N.lock for its lifetime (the kernel drops it when the process
// dies, even by SIGKILL, so the next harness to claim N clears what was left behind).
// A bridge ptcbrN carries 10.217.N.1 … 10.217.N.k, one address per fake Node (the
// Nodes' InternalIPs); every pod gets a network namespace ptcN-H with eth0 =
// 10.217.N.H/24 (H from firstPodHost to lastPodHost), a veth peered to the bridge, and a default
// route via 10.217.N.1. Nothing is routed or NATed off the machine.
const (
	podRangePrefix = "10.217."
	firstPodHost   = 10
	lastPodHost    = 199 // .200-.254 are never given to pods: tests may add them to the bridge (Gateway addresses)
	lockDir        = "/run/portico-testcluster"
	maxNodes       = 8
)

// podNetwork is the claimed /24 and its address book.
type podNetwork struct {
	index  int
	bridge string
	lock   *os.File

	mu   sync.Mutex
	used map[int]bool
	last int // the host part handed out last: allocation goes round, as host-local IPAM does
}

// errNoNetwork is why pods cannot start when the harness may not create namespaces.
var errNoNetwork = errors.New("pod networking needs root and iproute2 (ip netns)")

// claimPodNetwork claims a free 10.217.N.0/24, clears leftovers of a dead harness that
// held it, and creates the bridge with one address per node (nodes ≤ maxNodes).
func claimPodNetwork(nodes int) (*podNetwork, error) {
	if os.Geteuid() != 0 {
		return nil, errNoNetwork
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, errNoNetwork
	}
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		return nil, err
	}
	for n := 1; n <= 254; n++ {
		f, err := os.OpenFile(filepath.Join(lockDir, fmt.Sprintf("net-%d.lock", n)), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		pn := &podNetwork{index: n, bridge: fmt.Sprintf("ptcbr%d", n), lock: f, used: map[int]bool{}, last: firstPodHost - 1}
		pn.clearLeftovers()
		// Someone else (not a harness) routes this /24: leave it alone.
		if out, _ := exec.Command("ip", "-o", "route", "show", pn.subnet()+".0/24").Output(); len(bytes.TrimSpace(out)) > 0 {
			f.Close()
			continue
		}
		if err := pn.createBridge(nodes); err != nil {
			pn.close()
			return nil, err
		}
		return pn, nil
	}
	return nil, errors.New("no free pod network in 10.217.1.0/24 … 10.217.254.0/24")
}

func (pn *podNetwork) subnet() string { return podRangePrefix + strconv.Itoa(pn.index) }

// nodeAddress is the InternalIP of node i (0-based): 10.217.N.(i+1), on the bridge.
func (pn *podNetwork) nodeAddress(i int) string { return fmt.Sprintf("%s.%d", pn.subnet(), i+1) }

func (pn *podNetwork) createBridge(nodes int) error {
	cmds := [][]string{{"link", "add", pn.bridge, "type", "bridge"}}
	for i := range nodes {
		cmds = append(cmds, []string{"addr", "add", pn.nodeAddress(i) + "/24", "dev", pn.bridge})
	}
	cmds = append(cmds, []string{"link", "set", pn.bridge, "up"})
	for _, args := range cmds {
		if err := ipCmd(args...); err != nil {
			return fmt.Errorf("pod network bridge: %w", err)
		}
	}
	return nil
}

// clearLeftovers removes the namespaces, veths and bridge of index N that a killed
// harness left behind (their processes died with it: Pdeathsig).
func (pn *podNetwork) clearLeftovers() {
	prefix := fmt.Sprintf("ptc%d-", pn.index)
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			killNamespaceProcesses(e.Name())
			_ = ipCmd("netns", "del", e.Name())
		}
	}
	_ = ipCmd("route", "flush", "root", pn.subnet()+".0/24", "type", "unreachable")
	_ = ipCmd("link", "del", pn.bridge)
}

// close removes the bridge and releases the claim. Pod namespaces must be gone already.
func (pn *podNetwork) close() {
	pn.clearLeftovers()
	pn.lock.Close()
}

// podSandbox is one pod's network namespace.
type podSandbox struct {
	namespace string // ip netns name
	ip        string
	host      int
	vethHost  string
}

// createSandbox allocates an address and builds the pod's namespace and veth.
func (pn *podNetwork) createSandbox() (*podSandbox, error) {
	// Round-robin from the last address handed out, so a deleted pod's address is not
	// reused at once (clients and load balancers may still remember it).
	pn.mu.Lock()
	host := 0
	for i := range lastPodHost - firstPodHost + 1 {
		h := firstPodHost + (pn.last-firstPodHost+1+i+lastPodHost-firstPodHost+1)%(lastPodHost-firstPodHost+1)
		if !pn.used[h] {
			host = h
			pn.used[h] = true
			pn.last = h
			break
		}
	}
	pn.mu.Unlock()
	if host == 0 {
		return nil, fmt.Errorf("pod network %s.0/24 is full (%d pods)", pn.subnet(), lastPodHost-firstPodHost+1)
	}
	sb := &podSandbox{
		namespace: fmt.Sprintf("ptc%d-%d", pn.index, host),
		ip:        fmt.Sprintf("%s.%d", pn.subnet(), host),
		host:      host,
		vethHost:  fmt.Sprintf("pcv%d-%d", pn.index, host),
	}
	// A namespace of that name can only be a leftover of this harness (the index is ours).
	killNamespaceProcesses(sb.namespace)
	_ = ipCmd("netns", "del", sb.namespace)
	_ = ipCmd("link", "del", sb.vethHost)
	_ = ipCmd("route", "del", "unreachable", sb.ip+"/32")
	steps := [][]string{
		{"netns", "add", sb.namespace},
		{"link", "add", sb.vethHost, "type", "veth", "peer", "name", "eth0", "netns", sb.namespace},
		{"link", "set", sb.vethHost, "master", pn.bridge, "up"},
		{"-n", sb.namespace, "addr", "add", sb.ip + "/24", "dev", "eth0"},
		{"-n", sb.namespace, "link", "set", "eth0", "up"},
		{"-n", sb.namespace, "link", "set", "lo", "up"},
		{"-n", sb.namespace, "route", "add", "default", "via", pn.nodeAddress(0)},
	}
	for _, args := range steps {
		if err := ipCmd(args...); err != nil {
			pn.removeSandbox(sb)
			return nil, fmt.Errorf("pod sandbox %s: %w", sb.namespace, err)
		}
	}
	return sb, nil
}

// removeSandbox kills whatever still runs in the namespace, deletes it (and with it the
// veth pair) and frees the address. The address then answers "unreachable" at once, as
// with a routed CNI, instead of a connect hanging on ARP for seconds, until it is handed
// out again.
func (pn *podNetwork) removeSandbox(sb *podSandbox) {
	killNamespaceProcesses(sb.namespace)
	_ = ipCmd("netns", "del", sb.namespace)
	_ = ipCmd("link", "del", sb.vethHost)
	_ = ipCmd("route", "replace", "unreachable", sb.ip+"/32")
	pn.mu.Lock()
	delete(pn.used, sb.host)
	pn.mu.Unlock()
}

// killNamespaceProcesses SIGKILLs every process in the named network namespace.
func killNamespaceProcesses(namespace string) {
	out, err := exec.Command("ip", "netns", "pids", namespace).Output()
	if err != nil {
		return
	}
	for _, field := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(field); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
