package gen

import (
	"strings"
	"testing"
)

func TestOrgCheck(t *testing.T) {
	// GB 11714: check = 11 − (Σ value·weight mod 11), weights
	// 3 7 9 10 5 8 4 2, letters A=10 … Z=35, 10 written X, 11 written 0.
	for _, tc := range []struct {
		body string
		want byte
	}{
		{"00000000", '0'}, // Σ = 0: 11 − 0 = 11 → 0
		{"00000001", '9'}, // Σ = 1·2 = 2: 11 − 2 = 9
		{"00000006", 'X'}, // Σ = 6·2 = 12 ≡ 1: 11 − 1 = 10 → X
		{"10000000", '8'}, // Σ = 1·3 = 3: 11 − 3 = 8
		{"M000100Y", '4'}, // Σ = 22·3 + 1·5 + 34·2 = 139 ≡ 7: 11 − 7 = 4
		{"MA000000", '7'}, // Σ = 22·3 + 10·7 = 136 ≡ 4: 11 − 4 = 7
	} {
		got, ok := orgCheck([]byte(tc.body))
		if !ok || got != tc.want {
			t.Errorf("orgCheck(%q) = %q, %v; want %q", tc.body, got, ok, tc.want)
		}
	}
	for _, bad := range []string{"", "0000000", "000000000", "0000000a", "0000000-"} {
		if _, ok := orgCheck([]byte(bad)); ok {
			t.Errorf("orgCheck(%q) ok, want not ok", bad)
		}
	}
}

func TestUSCCWeights(t *testing.T) {
	// 3^(i−1) mod 31 for i = 1…17, as tabulated in GB 32100-2015.
	want := [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}
	if usccWeights != want {
		t.Errorf("weights %v, want %v", usccWeights, want)
	}
	if len(usccAlphabet) != 31 || strings.ContainsAny(usccAlphabet, "IOSVZ") {
		t.Errorf("alphabet %q", usccAlphabet)
	}
}

func TestValidUSCC(t *testing.T) {
	for _, tc := range []struct {
		desc string
		code string
		want bool
	}{
		// 9·1 + 1·3 + 6·9 + 5·27 + 0·19 + 1·26 = 227 ≡ 10 (mod 31),
		// 31 − 10 = 21 → M; organisation code 00000000 checks to 0.
		{"constructed by hand, 乌鲁木齐, all-zero body", "91650100000000000M", true},
		{"the example of GB 32100-2015", "91350100M000100Y43", true},
		{"a public code of a Shenzhen (440300) enterprise", "914403001922038216", true},
		{"a public code with both check characters letters", "9144030071526726XG", true},
		{"made by appendUSCC: cooperative in 喀什, MA body", string(appendUSCC(nil, '9', '3', "653100", &[8]byte{'M', 'A', '7', '8', 'K', 'Q', '0', '1'})), true},
		{"wrong final check character", "91350100M000100Y44", false},
		{"wrong organisation check character", "91350100M000100Y53", false},
		{"lower case", "91350100m000100y43", false},
		{"17 characters", "91350100M000100Y4", false},
		{"19 characters", "91350100M000100Y430", false},
		{"empty", "", false},
		{"letter I, outside the alphabet", "91350100I000100Y43", false},
		{"letter O, outside the alphabet", "91350100O000100Y43", false},
		{"letter in the division code", "9135010AM000100Y43", false},
		{"non-ASCII of 18 bytes", "统一社会信用代码码码", false},
		{"two codes' characters transposed", "91350100M000010Y43", false},
	} {
		if got := ValidUSCC(tc.code); got != tc.want {
			t.Errorf("%s: ValidUSCC(%q) = %v, want %v", tc.desc, tc.code, got, tc.want)
		}
	}
}

// TestUSCCCatchesSingleErrors checks that changing any one character of a
// valid code to another character of the alphabet makes it invalid: the
// final check character is a mod-31 checksum with weights coprime to 31.
func TestUSCCCatchesSingleErrors(t *testing.T) {
	code := "91650100MA78KQ0155"
	code = code[:17] + string(mustCheck(t, code[:17]))
	if !ValidUSCC(code) {
		t.Fatalf("%s not valid", code)
	}
	for i := range 18 {
		for j := range len(usccAlphabet) {
			c := usccAlphabet[j]
			if c == code[i] {
				continue
			}
			mutated := code[:i] + string(c) + code[i+1:]
			if ValidUSCC(mutated) {
				t.Errorf("%s (position %d changed) is valid", mutated, i+1)
			}
		}
	}
}

func mustCheck(t *testing.T, first17 string) byte {
	t.Helper()
	c, ok := usccCheck([]byte(first17))
	if !ok {
		t.Fatalf("usccCheck(%q) not ok", first17)
	}
	return c
}

func FuzzValidUSCC(f *testing.F) {
	for _, s := range []string{"91350100M000100Y43", "91650100000000000M", "", "9", "91350100I000100Y43", "统一社会信用代码码码"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidUSCC(s) {
			return
		}
		// A valid code is 18 characters of the alphabet and survives
		// being rebuilt from its parts.
		var body [8]byte
		copy(body[:], s[8:16])
		if got := string(appendUSCC(nil, s[0], s[1], s[2:8], &body)); got != s {
			t.Errorf("rebuilt %q as %q", s, got)
		}
	})
}
