package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
)

const (
	defaultGracePeriod = 30 * time.Second
	retrySetup         = 10 * time.Second
	retryMount         = 2 * time.Second // a Secret or ConfigMap a volume needs may follow the pod
	statusResync       = 10 * time.Second
	backoffInitial     = 10 * time.Second
	backoffMax         = 5 * time.Minute
)

// container is one container of the pod as a process.
type container struct {
	spec   v1.Container
	binary string
	args   []string
	mounts []volumeMount

	gen          int // which process events belong to; bumped on every start
	cmd          *exec.Cmd
	pid          int
	running      bool
	everStarted  bool
	startedAt    time.Time
	started      bool // startup probe passed (or none)
	ready        bool
	restartCount int32
	failures     int // consecutive exits, for the back-off
	waiting      *v1.ContainerStateWaiting
	terminated   *v1.ContainerStateTerminated
	lastTerm     *v1.ContainerStateTerminated
	stopProbes   context.CancelFunc
	restartTimer *time.Timer
	killTimer    *time.Timer
	reported     string // last problem sent as an Event, to send each once
}

// workerEvent is something that happened to container idx's process generation gen.
type workerEvent struct {
	idx, gen int
	exited   *os.ProcessState
	probe    *probeResult
	restart  bool
}

// podWorker owns one pod on a fake node from first sight until its final deletion.
type podWorker struct {
	k        *kubelet
	uid      types.UID
	hostIP   string
	recorder record.EventRecorder

	mu     sync.Mutex
	latest *v1.Pod
	gone   bool
	notify chan struct{}
	events chan workerEvent
	done   chan struct{}

	// Owned by run.
	podDir      string
	sandbox     *podSandbox
	startTime   metav1.Time
	containers  []*container
	podProblem  *containerProblem
	terminating bool
	finalPhase  v1.PodPhase
	conds       map[v1.PodConditionType]v1.PodCondition
	lastPatch   string
	mountErr    string // last FailedMount message sent
}

func newPodWorker(k *kubelet, pod *v1.Pod, hostIP string) *podWorker {
	w := &podWorker{
		k: k, uid: pod.UID, hostIP: hostIP, recorder: k.recorders[pod.Spec.NodeName],
		notify: make(chan struct{}, 1), events: make(chan workerEvent, 64), done: make(chan struct{}),
		podDir: filepath.Join(k.podsDir, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID)),
		conds:  map[v1.PodConditionType]v1.PodCondition{},
	}
	w.startTime = metav1.Now()
	if pod.Status.StartTime != nil {
		w.startTime = *pod.Status.StartTime
	}
	previous := map[string]v1.ContainerStatus{}
	for _, s := range pod.Status.ContainerStatuses {
		previous[s.Name] = s
	}
	for _, spec := range pod.Spec.Containers {
		c := &container{spec: spec, waiting: &v1.ContainerStateWaiting{Reason: "ContainerCreating"}}
		// The pod ran before this harness (re)started: its containers restart.
		if s, ok := previous[spec.Name]; ok {
			c.restartCount = s.RestartCount
			if s.State.Running != nil || s.State.Terminated != nil {
				c.restartCount++
			}
		}
		w.containers = append(w.containers, c)
	}
	return w
}

// update hands the worker the newest pod object; gone means it was deleted outright.
func (w *podWorker) update(pod *v1.Pod, gone bool) {
	w.mu.Lock()
	w.latest = pod
	w.gone = w.gone || gone
	w.mu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

func (w *podWorker) pod() (*v1.Pod, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.latest, w.gone
}

// send delivers an event from a process, probe or timer goroutine; dropped once the
// worker is done.
func (w *podWorker) send(ev workerEvent) {
	select {
	case w.events <- ev:
	case <-w.done:
	}
}

func (w *podWorker) run(ctx context.Context) {
	defer close(w.done)
	pod, _ := w.pod()
	if pod.Status.PodIP != "" && pod.DeletionTimestamp == nil {
		w.recorder.Event(pod, v1.EventTypeNormal, "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.")
	}
	setup := time.NewTimer(0)
	defer setup.Stop()
	resync := time.NewTicker(statusResync)
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			w.killNow()
			return
		case <-w.notify:
			pod, gone := w.pod()
			if gone {
				w.killNow()
				return
			}
			if pod.DeletionTimestamp != nil {
				w.terminate(ctx)
				return
			}
		case ev := <-w.events:
			w.handle(ctx, ev)
		case <-setup.C:
			if !w.setup(ctx) {
				if w.mountErr != "" {
					setup.Reset(retryMount)
				} else {
					setup.Reset(retrySetup)
				}
			}
		case <-resync.C:
		}
		w.syncStatus(ctx)
	}
}

// setup creates the sandbox and starts every container; false means try again later.
func (w *podWorker) setup(ctx context.Context) bool {
	if w.sandbox != nil {
		return true
	}
	pod, _ := w.pod()
	if p := podProblem(pod); p != nil {
		w.podProblem = p
		w.recorder.Eventf(pod, v1.EventTypeWarning, "Failed", "Error: %s: %s", p.reason, p.message)
		return true // nothing will change that
	}
	resolved := true
	for _, c := range w.containers {
		binary, args, problem := resolveContainer(&c.spec, w.k.imagesDir)
		if problem == nil {
			if _, err := os.Stat(binary); err != nil {
				problem = &containerProblem{"ErrImagePull", fmt.Sprintf("image %q maps to %s, which is missing: run test/cluster/build.sh", c.spec.Image, binary)}
			}
		}
		if problem != nil {
			w.report(pod, c, problem)
			resolved = false
			continue
		}
		mounts, problem := containerMounts(pod, &c.spec, filepath.Join(w.podDir, "volumes"))
		if problem != nil {
			w.report(pod, c, problem)
			resolved = false
			continue
		}
		c.binary, c.args, c.mounts = binary, args, mounts
	}
	if !resolved {
		return false
	}
	if err := writeVolumes(ctx, w.k.client, pod, filepath.Join(w.podDir, "volumes")); err != nil {
		// As the kubelet: containers stay ContainerCreating, a FailedMount Event, retried.
		if w.mountErr != err.Error() {
			w.mountErr = err.Error()
			w.recorder.Event(pod, v1.EventTypeWarning, "FailedMount", err.Error())
		}
		return false
	}
	w.mountErr = ""
	if w.k.network == nil {
		w.recorder.Eventf(pod, v1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", w.k.networkErr)
		return false
	}
	sandbox, err := w.k.network.createSandbox()
	if err != nil {
		w.recorder.Eventf(pod, v1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
		return false
	}
	w.sandbox = sandbox
	if err := os.MkdirAll(w.podDir, 0o755); err != nil {
		klog.Warningf("kubelet: %v", err)
	}
	for i := range w.containers {
		w.start(ctx, i)
	}
	return true
}

// report puts a container in a waiting state for problem and sends it as an Event once.
func (w *podWorker) report(pod *v1.Pod, c *container, problem *containerProblem) {
	c.waiting = &v1.ContainerStateWaiting{Reason: problem.reason, Message: problem.message}
	if c.reported == problem.Error() {
		return
	}
	c.reported = problem.Error()
	if problem.reason == "ErrImagePull" {
		w.recorder.Eventf(pod, v1.EventTypeWarning, "Failed", "Failed to pull image %q: %s", c.spec.Image, problem.message)
	} else {
		w.recorder.Eventf(pod, v1.EventTypeWarning, "Failed", "Error: %s: %s", problem.reason, problem.message)
	}
}

// start runs container i's process in the sandbox and its probes.
func (w *podWorker) start(ctx context.Context, i int) {
	c := w.containers[i]
	pod, _ := w.pod()
	env, problem := containerEnv(ctx, w.k.client, pod, &c.spec, w.sandbox.ip, w.hostIP)
	if problem != nil {
		w.report(pod, c, problem)
		w.scheduleRestart(i, retrySetup)
		return
	}
	dir := filepath.Join(w.podDir, c.spec.Name)
	_ = os.MkdirAll(dir, 0o755)
	sink, err := openLogSink(w.podDir, c.spec.Name)
	if err != nil {
		w.report(pod, c, &containerProblem{"RunContainerError", err.Error()})
		w.scheduleRestart(i, retrySetup)
		return
	}
	argv := append([]string{"netns", "exec", w.sandbox.namespace}, w.k.mountExecArgs(c.mounts, filepath.Join(w.podDir, c.spec.Name+".mnt"))...)
	argv = append(append(argv, c.binary), c.args...)
	cmd := exec.Command("ip", argv...)
	cmd.Env = env
	cmd.Dir = dir
	stdout, errOut := sink.pipe("stdout")
	stderr, errErr := sink.pipe("stderr")
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// Own process group (the whole container is signalled); killed with the harness.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	err = errors.Join(errOut, errErr)
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		sink.close(0)
		w.report(pod, c, &containerProblem{"RunContainerError", err.Error()})
		w.scheduleRestart(i, retrySetup)
		return
	}
	sink.started()
	c.gen++
	gen := c.gen
	c.cmd, c.pid, c.running, c.everStarted = cmd, cmd.Process.Pid, true, true
	c.startedAt = time.Now()
	c.waiting, c.terminated, c.started, c.ready, c.reported = nil, nil, false, false, ""
	w.recorder.Eventf(pod, v1.EventTypeNormal, "Started", "Started container %s (pid %d, %s)", c.spec.Name, c.pid, filepath.Base(c.binary))
	go func() {
		_ = cmd.Wait()
		sink.close(2 * time.Second)
		w.send(workerEvent{idx: i, gen: gen, exited: cmd.ProcessState})
	}()
	probeCtx, cancel := context.WithCancel(ctx)
	c.stopProbes = cancel
	p := &prober{
		container: &c.spec, podIP: w.sandbox.ip,
		report: func(r probeResult) { w.send(workerEvent{idx: i, gen: gen, probe: &r}) },
		unhealthy: func(kind probeKind, message string) {
			w.recorder.Eventf(pod, v1.EventTypeWarning, "Unhealthy", "%s probe failed: %s", kind, message)
		},
	}
	go p.run(probeCtx)
}

func (w *podWorker) scheduleRestart(i int, after time.Duration) {
	c := w.containers[i]
	if c.restartTimer != nil {
		c.restartTimer.Stop()
	}
	gen := c.gen
	c.restartTimer = time.AfterFunc(after, func() { w.send(workerEvent{idx: i, gen: gen, restart: true}) })
}

func (w *podWorker) handle(ctx context.Context, ev workerEvent) {
	c := w.containers[ev.idx]
	if ev.gen != c.gen {
		return
	}
	pod, _ := w.pod()
	switch {
	case ev.exited != nil:
		w.exited(pod, ev.idx, ev.exited)
	case ev.restart:
		if w.terminating || w.sandbox == nil || c.running {
			return
		}
		if c.everStarted {
			c.restartCount++
		}
		w.start(ctx, ev.idx)
	case ev.probe != nil && c.running:
		switch r := *ev.probe; {
		case r.kind == startupProbe && r.ok:
			c.started = true
		case r.kind == startupProbe, r.kind == livenessProbe:
			w.recorder.Eventf(pod, v1.EventTypeNormal, "Killing", "Container %s failed %s probe, will be restarted", c.spec.Name, r.kind)
			w.stop(pod, c, time.Duration(gracePeriod(pod))*time.Second)
		case r.kind == readinessProbe:
			c.ready = r.ok && c.started
		}
	}
}

// exited records a process exit and, unless the pod is terminating, restarts the
// container as its restartPolicy says, with the kubelet's back-off (none the first time,
// then 10 s doubling to 5 min; reset after 10 min of running).
func (w *podWorker) exited(pod *v1.Pod, i int, state *os.ProcessState) {
	c := w.containers[i]
	c.running, c.ready = false, false
	if c.stopProbes != nil {
		c.stopProbes()
	}
	if c.killTimer != nil {
		c.killTimer.Stop()
	}
	code := int32(state.ExitCode())
	reason := "Completed"
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int32(ws.Signal())
	}
	if code != 0 {
		reason = "Error"
	}
	c.terminated = &v1.ContainerStateTerminated{
		ExitCode: code, Reason: reason, StartedAt: metav1.NewTime(c.startedAt), FinishedAt: metav1.Now(),
		ContainerID: fmt.Sprintf("process://%d", c.pid),
	}
	if w.terminating {
		return
	}
	policy := pod.Spec.RestartPolicy
	if policy == v1.RestartPolicyNever || (policy == v1.RestartPolicyOnFailure && code == 0) {
		return
	}
	if time.Since(c.startedAt) > 10*time.Minute {
		c.failures = 0
	}
	delay := time.Duration(0)
	if c.failures > 0 {
		delay = min(backoffInitial<<(c.failures-1), backoffMax)
	}
	c.failures++
	c.lastTerm, c.terminated = c.terminated, nil
	if delay > 0 {
		c.waiting = &v1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", delay, c.spec.Name, pod.Name, pod.Namespace, pod.UID)}
		w.recorder.Eventf(pod, v1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)", c.spec.Name, pod.Name, pod.Namespace, pod.UID)
	}
	w.scheduleRestart(i, delay)
}
