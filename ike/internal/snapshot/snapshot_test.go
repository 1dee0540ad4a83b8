package snapshot

import (
	"slices"
	"sync"
	"testing"
)

func TestValues(t *testing.T) {
	var mu sync.Mutex
	m := map[uint64]string{1: "a", 2: "b", 3: "a"}
	got := Values(&mu, m, func(v string) bool { return v == "a" })
	if slices.Sort(got); !slices.Equal(got, []string{"a", "a"}) {
		t.Fatalf("kept %v", got)
	}
	if all := Values(&mu, m, nil); len(all) != 3 {
		t.Fatalf("nil keep gave %v", all)
	}
	if !mu.TryLock() {
		t.Fatal("lock still held")
	}
}
