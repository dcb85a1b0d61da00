package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
)

// mountExecCommand is the hidden subcommand the kubelet stand-in runs a container with
// volume mounts through (inside `ip netns exec`, so in the pod's network namespace):
//
//	portico-testcluster mount-exec --scratch DIR [--mount SRC:DST[:ro]]... -- BINARY ARGS...
//
// It enters a mount namespace of its own, binds each SRC at DST there, and execs BINARY
// (same pid, so the kubelet's signals and Pdeathsig reach the container). A DST that does
// not exist is created without touching this machine's filesystem: its nearest existing
// ancestor gets an overlay (upper layer on a tmpfs in SCRATCH) visible only in that
// namespace, and DST is created in the overlay. So /etc/secret-volume exists for the
// container and never on the host.
const mountExecCommand = "mount-exec"

func mountExec(args []string) int {
	// unshare(CLONE_NEWNS) applies to the calling thread; exec from the same thread.
	runtime.LockOSThread()
	var (
		scratch string
		mounts  []volumeMount
	)
	for len(args) > 0 && args[0] != "--" {
		if len(args) < 2 {
			return mountExecFail(fmt.Errorf("%s needs a value", args[0]))
		}
		switch args[0] {
		case "--scratch":
			scratch = args[1]
		case "--mount":
			parts := strings.Split(args[1], ":")
			if len(parts) < 2 || len(parts) > 3 || (len(parts) == 3 && parts[2] != "ro") {
				return mountExecFail(fmt.Errorf("bad --mount %q (SOURCE:TARGET[:ro])", args[1]))
			}
			mounts = append(mounts, volumeMount{source: parts[0], target: parts[1], readOnly: len(parts) == 3})
		default:
			return mountExecFail(fmt.Errorf("unknown option %q", args[0]))
		}
		args = args[2:]
	}
	if len(args) < 2 || scratch == "" {
		return mountExecFail(errors.New("usage: mount-exec --scratch DIR [--mount SRC:DST[:ro]]... -- BINARY ARGS..."))
	}
	binary, argv := args[1], args[1:]
	if err := syscall.Unshare(syscall.CLONE_NEWNS); err != nil {
		return mountExecFail(fmt.Errorf("unshare mount namespace: %w", err))
	}
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return mountExecFail(fmt.Errorf("making / private: %w", err))
	}
	for i, m := range mounts {
		if err := bindVolume(m, filepath.Join(scratch, fmt.Sprintf("overlay-%d", i))); err != nil {
			return mountExecFail(err)
		}
	}
	err := syscall.Exec(binary, argv, os.Environ())
	return mountExecFail(fmt.Errorf("exec %s: %w", binary, err))
}

// bindVolume binds m.source at m.target (read-only when asked), first making m.target
// exist through an overlay on its nearest existing ancestor when it does not.
func bindVolume(m volumeMount, scratch string) error {
	if _, err := os.Stat(m.target); errors.Is(err, os.ErrNotExist) {
		ancestor := existingAncestor(m.target)
		if ancestor == "/" {
			return fmt.Errorf("mountPath %s: no existing directory below / to lay it over", m.target)
		}
		if err := os.MkdirAll(scratch, 0o700); err != nil {
			return err
		}
		if err := syscall.Mount("tmpfs", scratch, "tmpfs", 0, "mode=0700"); err != nil {
			return fmt.Errorf("tmpfs for the overlay of %s: %w", ancestor, err)
		}
		upper, work := filepath.Join(scratch, "upper"), filepath.Join(scratch, "work")
		for _, d := range []string{upper, work} {
			if err := os.Mkdir(d, 0o755); err != nil {
				return err
			}
		}
		options := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", ancestor, upper, work)
		if err := syscall.Mount("overlay", ancestor, "overlay", 0, options); err != nil {
			return fmt.Errorf("overlay on %s (to create %s): %w", ancestor, m.target, err)
		}
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			return err
		}
	}
	if err := syscall.Mount(m.source, m.target, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s at %s: %w", m.source, m.target, err)
	}
	if m.readOnly {
		if err := syscall.Mount("", m.target, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("read-only %s: %w", m.target, err)
		}
	}
	return nil
}

func mountExecFail(err error) int {
	fmt.Fprintf(os.Stderr, "portico-testcluster %s: %v\n", mountExecCommand, err)
	return 127
}
