package main

import "testing"

func TestKeyFilter(t *testing.T) {
	var f keyFilter
	for _, r := range []struct {
		include bool
		p       string
	}{{false, "*.log"}, {true, "keep/*.log"}, {false, "tmp/*"}, {false, "?.bak"}, {false, "data[0-9].csv"}, {false, "x[!ab]"}} {
		if err := (filterValue{&f, r.include}).Set(r.p); err != nil {
			t.Fatal(err)
		}
	}
	for rel, want := range map[string]bool{
		"a.txt":          true,
		"a.log":          false,
		"deep/dir/b.log": false, // "*" crosses "/"
		"keep/c.log":     true,  // the later --include wins
		"keep/d/e.log":   true,
		"tmp/x":          false,
		"tmpx":           true,
		"1.bak":          false,
		"12.bak":         true,
		"data7.csv":      false,
		"dataX.csv":      true,
		"xc":             false,
		"xa":             true,
		"a.log.gz":       true, // anchored at both ends
	} {
		if got := f.match(rel); got != want {
			t.Errorf("match(%q) = %v, want %v", rel, got, want)
		}
	}
	var none *keyFilter
	if !none.match("anything") || none.active() {
		t.Error("no filter must include everything")
	}
	for _, bad := range []string{"a[b", "[]"} {
		if err := (filterValue{&f, false}).Set(bad); err == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
}
