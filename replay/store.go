// Package replay remembers which signed requests were already used, so that
// each signature serves once while it is valid: in memory for one gateway,
// or in Redis for every gateway that names the same server. It knows
// nothing of Caddy or of the token format.
package replay

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"time"
)

// Store remembers used signatures until they expire. MarkUsed reports
// whether the signature was new, atomically: of two racing copies only one
// can see true.
type Store interface {
	MarkUsed(ctx context.Context, key [sha256.Size]byte, expires time.Time) (bool, error)
}

// ErrFull is the memory store refusing to forget live entries.
var ErrFull = errors.New("the replay store is full")

// KeyFor identifies a signed request by its decoded JWS header and payload,
// not by the token text: an ECDSA signature can be re-encoded (s replaced
// by n - s) into another valid one, and that variant is the same request.
func KeyFor(header, payload []byte) [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(header)))
	h.Write(n[:])
	h.Write(header)
	h.Write(payload)
	var key [sha256.Size]byte
	h.Sum(key[:0])
	return key
}
