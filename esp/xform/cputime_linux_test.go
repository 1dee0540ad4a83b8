//go:build linux

package xform

import (
	"time"

	"golang.org/x/sys/unix"
)

// threadCPUTime returns the calling thread's CPU time. Timing a loop by it
// (with the goroutine locked to its thread) leaves out the time the thread
// spent descheduled, which on a shared machine dominates wall time.
func threadCPUTime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		panic(err)
	}
	return time.Duration(ts.Nano())
}
