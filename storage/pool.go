package storage

import "time"

// PoolStats describes a backend's database connections at one moment, for
// an operator's metrics. Backends offer it as Stats() PoolStats; it is not
// part of Store because nothing in the protocol depends on it.
type PoolStats struct {
	// MaxOpen is the most connections the pool opens (0: no limit).
	MaxOpen int
	// Open connections, of which InUse are held by a caller and Idle wait.
	Open, InUse, Idle int
	// WaitCount is how many acquisitions have had to wait for a connection
	// since the store was opened, WaitDuration how long they waited in all.
	WaitCount    int64
	WaitDuration time.Duration
}
