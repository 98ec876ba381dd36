package storage

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strconv"
)

// contentHashVersion names the encoding below; change it when the encoding
// changes, so that old and new hashes never collide by accident (every
// record then counts as updated once).
const contentHashVersion = "dopaid citizen content v1"

// ComputeContentHash returns the value for ContentHash: SHA-256, base64url
// without padding, over a canonical encoding of every field of c except ID,
// LaserCode (sealing randomises it), LaserCodeMAC, ContentHash and the
// timestamps, followed by laserMAC, which stands for the laser code (pass
// the MAC that goes in LaserCodeMAC). Each value is length-prefixed, so no
// two records encode alike. Equal hashes mean a re-import changes nothing.
func (c Citizen) ComputeContentHash(laserMAC string) string {
	h := sha256.New()
	var buf [binary.MaxVarintLen64]byte
	put := func(s string) {
		h.Write(buf[:binary.PutUvarint(buf[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	name := func(n Name) { put(n.Title); put(n.First); put(n.Middle); put(n.Last) }
	put(contentHashVersion)
	put(c.PID)
	name(c.NameTH)
	name(c.NameEN)
	put(c.Birthdate.String())
	put(strconv.Itoa(c.Sex))
	a := c.Address
	for _, s := range []string{a.HouseNo, a.Moo, a.Trok, a.Soi, a.Road, a.Subdistrict, a.District, a.Province, a.PostalCode} {
		put(s)
	}
	put(c.CardIssued.String())
	put(c.CardExpires.String())
	put(c.CardStatus)
	put(c.PhotoRef)
	put(c.Status)
	put(c.StatusDesc)
	put(c.StatusAsOf.String())
	put(laserMAC)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}
