//go:build !linux

package xform

import "time"

var cpuEpoch = time.Now()

// threadCPUTime falls back to wall time where no per-thread clock is
// wired up.
func threadCPUTime() time.Duration { return time.Since(cpuEpoch) }
