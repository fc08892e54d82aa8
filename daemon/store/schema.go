package store

import bolt "go.etcd.io/bbolt"

// The layout of daemon.db: every top-level bucket and well-known key is declared here.

// schemaVersion is the layout this build reads and writes. Raising it needs a migration in
// migrations.
const schemaVersion = 2

var (
	// bucketMeta holds facts about the file itself, such as its schema version.
	bucketMeta = []byte("meta")

	// keySchemaVersion in bucketMeta holds the schema version as 8 bytes, big-endian.
	keySchemaVersion = []byte("schema_version")

	// bucketTokens holds the scoped API tokens, keyed by the SHA-256 of their secret, each a
	// palyra.v1.TokenRecord.
	bucketTokens = []byte("tokens")

	// bucketAudit holds the audit journal, keyed by sequence number as 8 bytes, big-endian,
	// each a palyra.v1.AuditRecord chained to the one before by its hash.
	bucketAudit = []byte("audit")

	// bucketPairingCodes holds the minted pairing codes, keyed by the SHA-256 of the code,
	// each a palyra.v1.PairingCodeRecord.
	bucketPairingCodes = []byte("pairing_codes")

	// bucketApprovals holds the approvals, keyed by sequence number as 8 bytes, big-endian,
	// each a palyra.v1.ApprovalRecord.
	bucketApprovals = []byte("approvals")

	// bucketPendingApprovals indexes the approvals still pending: the key is the approval's
	// key, the value its requester. It holds exactly the pending ones (written in the same
	// transaction as the approval), so listing, watching and expiring them costs what is
	// pending, not what the history holds. Added in schema version 2.
	bucketPendingApprovals = []byte("approvals_pending")

	// bucketDevices holds the paired devices, keyed by device id, each a
	// palyra.v1.DeviceRecord.
	bucketDevices = []byte("devices")

	// bucketPairingRequests holds the nodes' pairing requests, keyed by request id, each a
	// palyra.v1.PairingRequestRecord.
	bucketPairingRequests = []byte("pairing_requests")

	// bucketCapabilityCalls holds one bucket per device id, in which each capability call is
	// a palyra.v1.CapabilityCallRecord keyed by its creation time (unix ms, 8 bytes,
	// big-endian) followed by its id, so a cursor walks a device's calls oldest first.
	bucketCapabilityCalls = []byte("capability_calls")
)

// buckets are the top-level buckets Open creates. Adding one needs no migration: Open creates
// what an older file lacks.
var buckets = [][]byte{
	bucketMeta, bucketTokens, bucketAudit, bucketPairingCodes, bucketApprovals, bucketPendingApprovals,
	bucketDevices, bucketPairingRequests, bucketCapabilityCalls,
}

// migrations[v] brings a file of schema version v to v+1, inside the transaction that opens
// it; the buckets exist already.
var migrations = map[uint64]func(*bolt.Tx) error{
	1: indexPendingApprovalsTx,
}
