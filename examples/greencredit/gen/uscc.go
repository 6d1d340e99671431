package gen

// The unified social credit code (统一社会信用代码) of GB 32100-2015, "Coding
// rule of the unified social credit identifier for legal entities and other
// organizations":
//
//	position  1     registration-management department code (9 = 工商, market regulation)
//	position  2     organisation category (1 = enterprise, 3 = farmers' cooperative, …)
//	positions 3–8   administrative division code (GB/T 2260), e.g. 650100 乌鲁木齐市
//	positions 9–17  organisation code (GB 11714-1997): 8 body characters and a check character
//	position  18    check character over positions 1–17
//
// Every character is drawn from the 31-character alphabet usccAlphabet (the
// digits and the capital letters without I, O, S, V and Z).

// usccAlphabet is the character set of GB 32100-2015; a character's value is
// its index.
const usccAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// usccValue maps a byte to its value in usccAlphabet, or -1.
var usccValue [256]int8

// usccWeights are the GB 32100 weights 3^i mod 31 for positions 1–17.
var usccWeights [17]int

// orgWeights are the GB 11714 weights for the 8 body characters of an
// organisation code.
var orgWeights = [8]int{3, 7, 9, 10, 5, 8, 4, 2}

func init() {
	for i := range usccValue {
		usccValue[i] = -1
	}
	for i := 0; i < len(usccAlphabet); i++ {
		usccValue[usccAlphabet[i]] = int8(i)
	}
	w := 1
	for i := range usccWeights {
		usccWeights[i] = w
		w = w * 3 % 31
	}
}

// orgCharValue is the GB 11714 value of an organisation-code body character:
// digits are themselves, letters A–Z are 10–35. It returns -1 for anything
// else.
func orgCharValue(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'Z':
		return int(c-'A') + 10
	}
	return -1
}

// orgCheck returns the GB 11714 check character of an 8-character
// organisation-code body: 11 − (Σ value·weight mod 11), written X for 10
// and 0 for 11. ok is false if body holds a character outside 0–9, A–Z.
func orgCheck(body []byte) (c byte, ok bool) {
	if len(body) != 8 {
		return 0, false
	}
	sum := 0
	for i, b := range body {
		v := orgCharValue(b)
		if v < 0 {
			return 0, false
		}
		sum += v * orgWeights[i]
	}
	switch d := 11 - sum%11; d {
	case 10:
		return 'X', true
	case 11:
		return '0', true
	default:
		return byte('0' + d), true
	}
}

// usccCheck returns the GB 32100 check character of the first 17
// characters of a code: 31 − (Σ value·3^i mod 31), 0 for 31, written in
// usccAlphabet. ok is false if a character is outside the alphabet.
func usccCheck(first17 []byte) (c byte, ok bool) {
	if len(first17) != 17 {
		return 0, false
	}
	sum := 0
	for i, b := range first17 {
		v := usccValue[b]
		if v < 0 {
			return 0, false
		}
		sum += int(v) * usccWeights[i]
	}
	return usccAlphabet[(31-sum%31)%31], true
}

// ValidUSCC reports whether s is a well-formed unified social credit code
// of GB 32100-2015: 18 characters of the alphabet
// 0123456789ABCDEFGHJKLMNPQRTUWXY, a 6-digit division code in positions
// 3–8, an organisation code in positions 9–17 whose last character is its
// GB 11714 check character, and a final character that is the GB 32100
// check character of the first 17.
//
// It checks form only: it does not check that the department, category or
// division codes were ever assigned, nor that the code was issued.
func ValidUSCC(s string) bool {
	if len(s) != 18 {
		return false
	}
	var b [18]byte
	for i := 0; i < 18; i++ {
		if usccValue[s[i]] < 0 {
			return false
		}
		b[i] = s[i]
	}
	for _, c := range b[2:8] {
		if c < '0' || c > '9' {
			return false
		}
	}
	if c, ok := orgCheck(b[8:16]); !ok || c != b[16] {
		return false
	}
	c, ok := usccCheck(b[:17])
	return ok && c == b[17]
}

// appendUSCC appends the code with department and category characters
// dept and cat, division code div (6 digits) and organisation-code body
// body (8 characters of usccAlphabet), both check characters computed.
func appendUSCC(dst []byte, dept, cat byte, div string, body *[8]byte) []byte {
	var b [18]byte
	b[0], b[1] = dept, cat
	copy(b[2:8], div)
	copy(b[8:16], body[:])
	b[16], _ = orgCheck(b[8:16])
	b[17], _ = usccCheck(b[:17])
	return append(dst, b[:]...)
}
