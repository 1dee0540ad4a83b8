package dpd

import (
	"testing"
	"time"
)

func TestMonitorLifecycle(t *testing.T) {
	t0 := time.Unix(1000, 0)
	m := New(Config{Delay: 10 * time.Second, Timeout: 30 * time.Second}, t0)
	if a, at := m.Next(t0.Add(5 * time.Second)); a != None || !at.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("idle: %v %v", a, at)
	}
	// Traffic pushes the probe back.
	m.Received(t0.Add(8 * time.Second))
	if a, at := m.Next(t0.Add(10 * time.Second)); a != None || !at.Equal(t0.Add(18*time.Second)) {
		t.Fatalf("after traffic: %v %v", a, at)
	}
	if a, _ := m.Next(t0.Add(18 * time.Second)); a != Probe {
		t.Fatalf("want probe, got %v", a)
	}
	m.Probing(t0.Add(18 * time.Second))
	// A retransmission does not restart the timeout.
	m.Probing(t0.Add(25 * time.Second))
	if a, at := m.Next(t0.Add(40 * time.Second)); a != None || !at.Equal(t0.Add(48*time.Second)) {
		t.Fatalf("probing: %v %v", a, at)
	}
	if a, _ := m.Next(t0.Add(48 * time.Second)); a != Dead {
		t.Fatalf("want dead at 30 s, got %v", a)
	}
	// An answer revives it.
	m.Received(t0.Add(47 * time.Second))
	if m.InProgress() {
		t.Fatal("probe still in progress after an answer")
	}
	if a, _ := m.Next(t0.Add(48 * time.Second)); a != None {
		t.Fatalf("after answer: %v", a)
	}
}

func TestDefaults(t *testing.T) {
	m := New(Config{}, time.Unix(0, 0))
	if c := m.Config(); c.Delay != DefaultDelay || c.Timeout != DefaultTimeout {
		t.Fatalf("defaults %+v", c)
	}
	if Dead.String() != "dead" || Action(9).String() != "Action(9)" {
		t.Fatal("strings")
	}
	// An old timestamp never moves lastRecv backwards.
	m.Received(time.Unix(-5, 0))
	if !m.LastReceived().Equal(time.Unix(0, 0)) {
		t.Fatal("lastRecv moved backwards")
	}
}
