// Package foreground lets a local tool that make starts take the terminal's
// foreground, as a shell does for a job: Ctrl-C then reaches the tool, which
// stops what it started and exits as it sees fit, and not make, which would
// otherwise always die of the signal and report an interrupt.
//
// It imports nothing of this module.
package foreground

import (
	"os/signal"
	"syscall"
	"unsafe"
)

// Take moves this process into a process group of its own and makes that
// the terminal's foreground group, when standard input is a terminal;
// restore gives the foreground back.
//
// Out of make's group the process no longer gets the SIGHUP a shell sends
// its jobs when the terminal closes, so hungUp is closed instead when the
// terminal hangs up (or Ctrl-D is typed): stop then. Without a terminal
// Take does nothing and hungUp never closes.
func Take() (restore func(), hungUp <-chan struct{}) {
	const fd = 0
	never := make(chan struct{})
	original, err := getForeground(fd)
	if err != nil {
		return func() {}, never // not a terminal
	}
	// A background group that sets the foreground is sent SIGTTOU.
	signal.Ignore(syscall.SIGTTOU)
	if err := syscall.Setpgid(0, 0); err != nil {
		return func() {}, never
	}
	if err := setForeground(fd, syscall.Getpgrp()); err != nil {
		syscall.Setpgid(0, original)
		return func() {}, never
	}
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		buf := make([]byte, 256)
		for {
			// A hung-up terminal reads as an error or as the end.
			if n, err := syscall.Read(fd, buf); err != nil && err != syscall.EINTR || n == 0 && err == nil {
				return
			}
		}
	}()
	return func() { setForeground(fd, original) }, closed
}

func getForeground(fd int) (int, error) {
	var pgrp int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TIOCGPGRP, uintptr(unsafe.Pointer(&pgrp))); errno != 0 {
		return 0, errno
	}
	return int(pgrp), nil
}

func setForeground(fd, pgrp int) error {
	p := int32(pgrp)
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TIOCSPGRP, uintptr(unsafe.Pointer(&p))); errno != 0 {
		return errno
	}
	return nil
}
