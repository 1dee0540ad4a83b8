//go:build !race

package xform

const raceEnabled = false
