package dp

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
)

func TestParseEpsilon(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Epsilon
		str     string // canonical String(), when different from in
		wantErr bool
	}{
		{in: "0", want: 0},
		{in: "3", want: 3_000_000},
		{in: "0.5", want: 500_000},
		{in: "0.50", want: 500_000, str: "0.5"},
		{in: "1.000000", want: 1_000_000, str: "1"},
		{in: "0.000001", want: 1},
		{in: "0.1", want: 100_000},
		{in: "12.345678", want: 12_345_678},
		{in: "9223372036854.775807", want: math.MaxInt64},
		{in: "9223372036854.775808", wantErr: true},
		{in: "9223372036855", wantErr: true},
		{in: "99999999999999999999", wantErr: true},
		{in: "", wantErr: true},
		{in: "0.0000001", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "+1", wantErr: true},
		{in: "-0", wantErr: true},
		{in: "1e3", wantErr: true},
		{in: "1E-3", wantErr: true},
		{in: "NaN", wantErr: true},
		{in: "nan", wantErr: true},
		{in: "Inf", wantErr: true},
		{in: "+Inf", wantErr: true},
		{in: ".5", wantErr: true},
		{in: "5.", wantErr: true},
		{in: "01", wantErr: true},
		{in: "00.5", wantErr: true},
		{in: " 1", wantErr: true},
		{in: "1 ", wantErr: true},
		{in: "1.2.3", wantErr: true},
		{in: "0x10", wantErr: true},
		{in: "1_000", wantErr: true},
		{in: "١", wantErr: true}, // Arabic-Indic digit one
		{in: "0,5", wantErr: true},
	} {
		got, err := ParseEpsilon(tc.in)
		if tc.wantErr {
			if err == nil {
				t.Errorf("ParseEpsilon(%q) = %d, want an error", tc.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseEpsilon(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseEpsilon(%q) = %d, want %d", tc.in, got, tc.want)
		}
		str := tc.str
		if str == "" {
			str = tc.in
		}
		if got.String() != str {
			t.Errorf("ParseEpsilon(%q).String() = %q, want %q", tc.in, got.String(), str)
		}
	}
}

func TestEpsilonOverflowIs(t *testing.T) {
	_, err := ParseEpsilon("9999999999999")
	if !errors.Is(err, ErrEpsilonOverflow) {
		t.Fatalf("got %v, want ErrEpsilonOverflow", err)
	}
}

func TestEpsilonFloat64(t *testing.T) {
	for s, want := range map[string]float64{"0.5": 0.5, "0.1": 0.1, "3": 3, "0.000001": 1e-6, "1.3": 1.3} {
		e, err := ParseEpsilon(s)
		if err != nil {
			t.Fatal(err)
		}
		if e.Float64() != want {
			t.Errorf("%s.Float64() = %v, want %v", s, e.Float64(), want)
		}
	}
}

func TestEpsilonArithmetic(t *testing.T) {
	a, b := Epsilon(2_500_000), Epsilon(500_000)
	if s, err := a.Add(b); err != nil || s != 3_000_000 {
		t.Errorf("Add = %v, %v", s, err)
	}
	if s, err := a.Sub(b); err != nil || s != 2_000_000 {
		t.Errorf("Sub = %v, %v", s, err)
	}
	if s, err := a.Sub(a); err != nil || s != 0 {
		t.Errorf("Sub to zero = %v, %v", s, err)
	}
	if _, err := b.Sub(a); !errors.Is(err, ErrOverspent) {
		t.Errorf("overspending: got %v, want ErrOverspent", err)
	}
	if _, err := Epsilon(math.MaxInt64).Add(1); !errors.Is(err, ErrEpsilonOverflow) {
		t.Errorf("overflow: got %v, want ErrEpsilonOverflow", err)
	}
	if _, err := a.Add(-1); err == nil {
		t.Error("adding a negative epsilon: no error")
	}
	if _, err := Epsilon(-1).Sub(0); err == nil {
		t.Error("subtracting from a negative epsilon: no error")
	}
	// Exactness: ten times 0.1 is exactly 1, unlike float64.
	tenth, _ := ParseEpsilon("0.1")
	var sum Epsilon
	for range 10 {
		sum, _ = sum.Add(tenth)
	}
	if sum != EpsilonUnit {
		t.Errorf("10 × 0.1 = %s, want 1", sum)
	}
}

func TestEpsilonJSON(t *testing.T) {
	type doc struct {
		Budget Epsilon `json:"budget"`
	}
	b, err := json.Marshal(doc{Budget: 3_250_000})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"budget":"3.25"}` {
		t.Errorf("Marshal = %s", b)
	}
	var d doc
	if err := json.Unmarshal(b, &d); err != nil || d.Budget != 3_250_000 {
		t.Errorf("Unmarshal = %v, %v", d.Budget, err)
	}
	if err := json.Unmarshal([]byte(`{"budget":"1e2"}`), &d); err == nil {
		t.Error("Unmarshal accepted an exponent")
	}
	if _, err := json.Marshal(doc{Budget: -1}); err == nil {
		t.Error("Marshal accepted a negative epsilon")
	}
}

func FuzzParseEpsilon(f *testing.F) {
	for _, s := range []string{"0", "0.5", "3", "0.000001", "9223372036854.775807", "1e3", "-1", ".5", "NaN", "01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseEpsilon(s)
		if err != nil {
			return
		}
		if e < 0 {
			t.Fatalf("ParseEpsilon(%q) = %d, negative", s, e)
		}
		back, err := ParseEpsilon(e.String())
		if err != nil || back != e {
			t.Fatalf("ParseEpsilon(%q) = %d; String %q parses to %d, %v", s, e, e.String(), back, err)
		}
	})
}
