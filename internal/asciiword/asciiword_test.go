package asciiword

import (
	"encoding/binary"
	"testing"
)

// The two ways the project asks: strict JSON strings (no quote, no
// backslash) and the plainText keyword (no DEL).
var exclusions = []struct {
	name string
	a, b byte
}{
	{"JSON string", '"', '\\'},
	{"printable", 0x7f, 0x7f},
}

// TestPlainMatchesEachByte holds the eight-byte test to the byte-wise rule
// for every byte value in every lane, and for words holding two special
// bytes, where a borrow from the lower could hide or fake the upper.
func TestPlainMatchesEachByte(t *testing.T) {
	filler := [8]byte{'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'}
	word := func(bytes [8]byte) uint64 { return binary.LittleEndian.Uint64(bytes[:]) }
	for _, ex := range exclusions {
		isPlain := func(c byte) bool { return c >= 0x20 && c < 0x80 && c != ex.a && c != ex.b }
		for lane := range 8 {
			for c := range 256 {
				w := filler
				w[lane] = byte(c)
				if got := plain(word(w), ex.a, ex.b); got != isPlain(byte(c)) {
					t.Fatalf("%s: byte %#x in lane %d: plain %v, want %v", ex.name, c, lane, got, !got)
				}
			}
		}
		for low := range 7 {
			for _, c := range []byte{0x00, 0x1f, ex.a, ex.b, 0x80, 0xff} {
				for _, d := range []byte{0x00, 0x1f, 0x20, ex.a, ex.b, 0x7e, 0x7f, 0x80, 0xff} {
					w := filler
					w[low], w[low+1] = c, d
					if plain(word(w), ex.a, ex.b) {
						t.Fatalf("%s: bytes %#x, %#x in lanes %d and %d: taken as plain", ex.name, c, d, low, low+1)
					}
				}
			}
		}
	}
}

func TestPrefixStopsAtTheFirstWordThatNeedsCare(t *testing.T) {
	cases := []struct {
		text string
		a, b byte
		want int
	}{
		{"", '"', '\\', 0},
		{"abcdefg", '"', '\\', 0},
		{"abcdefgh", '"', '\\', 8},
		{"abcdefghijklmnop\"", '"', '\\', 16},
		{"abcdefghijklmno\"", '"', '\\', 8},
		{"abcdefgh\\nijklmnop", '"', '\\', 8},
		{"abcdefgh\x7fijklmnop", '"', '\\', 16},
		{"abcdefgh\x7fijklmnop", 0x7f, 0x7f, 8},
		{"abcdefgh\"ijklmnop", 0x7f, 0x7f, 16},
		{"abcdefghZoë ijklmn", 0x7f, 0x7f, 8},
		{"\tbcdefghijklmnop", 0x7f, 0x7f, 0},
	}
	for _, tc := range cases {
		if got := Prefix(tc.text, tc.a, tc.b); got != tc.want {
			t.Errorf("Prefix(%q, %q, %q) = %d, want %d", tc.text, tc.a, tc.b, got, tc.want)
		}
		if got := Prefix([]byte(tc.text), tc.a, tc.b); got != tc.want {
			t.Errorf("Prefix([]byte(%q), %q, %q) = %d, want %d", tc.text, tc.a, tc.b, got, tc.want)
		}
	}
}
