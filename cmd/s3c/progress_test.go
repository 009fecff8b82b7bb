package main

import "testing"

// extents counts each byte once, whatever the order and overlap of the
// ranges added.
func TestExtentsCountEachByteOnce(t *testing.T) {
	var e extents
	steps := []struct{ start, end, want int64 }{
		{10, 20, 10}, {0, 5, 5}, {15, 30, 10}, {0, 30, 5}, {40, 50, 10}, {30, 40, 10}, {0, 50, 0}, {50, 50, 0},
	}
	for _, s := range steps {
		if got := e.add(s.start, s.end); got != s.want {
			t.Fatalf("add(%d, %d) = %d, want %d (set %v)", s.start, s.end, got, s.want, e)
		}
	}
	if len(e) != 1 || e[0] != [2]int64{0, 50} {
		t.Fatalf("set %v, want [[0 50]]", e)
	}
}
