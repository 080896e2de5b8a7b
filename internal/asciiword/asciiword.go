// Package asciiword measures how far a text runs on in plain ASCII, eight
// bytes at a time: the strict JSON parser's strings and the schema's
// plainText keyword both pass long runs of ordinary characters, and a byte
// loop over a 64 KiB body cost 7% of its whole request.
package asciiword

// Prefix returns the length of the longest prefix of s made of whole
// 8-byte words whose bytes are all between 0x20 and 0x7F and none of them
// a or b. Where it stops, a byte loop takes over.
func Prefix[Text string | []byte](s Text, a, b byte) int {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if !plain(w, a, b) {
			break
		}
	}
	return i
}

// plain reports whether every byte of w is between 0x20 and 0x7F and is
// neither a nor b. Each term sets a byte's high bit where that byte is
// below 0x20, equal to a or equal to b (w itself where it is above 0x7F),
// after Hacker's Delight 6-1; a borrow can set a higher byte's bit too,
// but only above a byte that already set its own, so the test is zero
// exactly when every byte is plain.
func plain(w uint64, a, b byte) bool {
	const lanes, highBits = 0x0101010101010101, 0x8080808080808080
	offA, offB := w^(lanes*uint64(a)), w^(lanes*uint64(b)) // zero bytes where w has a or b
	control := (w - lanes*0x20) &^ w
	return (control|(offA-lanes)&^offA|(offB-lanes)&^offB|w)&highBits == 0
}
