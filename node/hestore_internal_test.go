package node

import (
	"slices"
	"testing"
)

// TestFlatten checks that a column flattened into a dictionary reads back
// the same strings, with fixed-width entries when all have one length.
func TestFlatten(t *testing.T) {
	for _, tc := range []struct {
		name  string
		strs  []string
		width int
	}{
		{"tokens", []string{"0123456789abcdef", "fedcba9876543210", "0123456789abcdef"}, 16},
		{"mixed", []string{"A", "", "BCD", "一二"}, 0},
		{"empty strings", []string{"", ""}, 0},
		{"no rows", []string{}, 0},
	} {
		d := flatten(tc.strs)
		if d.Width != tc.width {
			t.Errorf("%s: width %d, want %d", tc.name, d.Width, tc.width)
		}
		var got []string
		for i := range d.Len() {
			got = append(got, d.At(i))
		}
		if !slices.Equal(got, tc.strs) && !(len(got) == 0 && len(tc.strs) == 0) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.strs)
		}
	}
}
