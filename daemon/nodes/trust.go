package nodes

import (
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/daemon/pki"
	"github.com/palyra/palyra/daemon/store"
	"github.com/palyra/palyra/internal/redact"
	"github.com/palyra/palyra/internal/textsafe"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// maxReason bounds a revocation reason, in characters.
const maxReason = 256

// Revoke distrusts device id for reason: its certificates are refused from the next call on
// and its live session is closed at once. Revoking a revoked device changes nothing.
func (r *Runtime) Revoke(deviceID, reason, actor string) (*palyrav1.Device, error) {
	reason = cut(redact.Line(textsafe.Clean(reason)), maxReason)
	if reason == "" {
		reason = "revoked by " + actor
	}
	return r.revoke(deviceID, reason, actor)
}

func (r *Runtime) revoke(deviceID, reason, actor string) (*palyrav1.Device, error) {
	return r.change(deviceID, func(d *store.Device, now time.Time) (string, []store.AuditEntry, error) {
		if d.Trust != TrustTrusted {
			return "", nil, nil
		}
		d.Trust, d.RevokedReason, d.RevokedAt = TrustRevoked, reason, now
		return "changed", []store.AuditEntry{{At: now, Kind: "device.revoked", Actor: actor, Subject: d.ID, Detail: reason}}, nil
	})
}

// Remove forgets device id: it leaves the inventory (ListDevices shows it only with
// include_removed), revoked first if it was trusted. Removing it again changes nothing.
func (r *Runtime) Remove(deviceID, actor string) (*palyrav1.Device, error) {
	return r.change(deviceID, func(d *store.Device, now time.Time) (string, []store.AuditEntry, error) {
		if d.Trust == TrustRemoved {
			return "", nil, nil
		}
		var audit []store.AuditEntry
		if d.Trust == TrustTrusted {
			d.RevokedReason, d.RevokedAt = "removed by "+actor, now
			audit = append(audit, store.AuditEntry{At: now, Kind: "device.revoked", Actor: actor, Subject: d.ID, Detail: d.RevokedReason})
		}
		d.Trust, d.RemovedAt = TrustRemoved, now
		audit = append(audit, store.AuditEntry{At: now, Kind: "device.removed", Actor: actor, Subject: d.ID, Detail: d.Name})
		return "removed", audit, nil
	})
}

// SetCapabilityAvailability makes capability of device id available or not, whatever the
// node says, until the operator changes it again.
func (r *Runtime) SetCapabilityAvailability(deviceID, capability string, available bool, actor string) (*palyrav1.Device, error) {
	return r.change(deviceID, func(d *store.Device, now time.Time) (string, []store.AuditEntry, error) {
		if d.Trust == TrustRemoved {
			return "", nil, fmt.Errorf("%w: device %s was removed", ErrNotFound, deviceID)
		}
		known := false
		for _, c := range d.Capabilities {
			known = known || c.Name == capability
		}
		if !known {
			return "", nil, fmt.Errorf("%w: device %s does not offer capability %q", ErrInvalid, deviceID, capability)
		}
		if d.Overrides == nil {
			d.Overrides = map[string]bool{}
		}
		d.Overrides[capability] = available
		word := "unavailable"
		if available {
			word = "available"
		}
		return "changed", []store.AuditEntry{{At: now, Kind: "capability.availability", Actor: actor, Subject: d.ID,
			Detail: capability + " " + word}}, nil
	})
}

// change applies edit to a copy of device id's record, stores it with edit's audit entries,
// then applies it in memory, tells the watchers (kind "changed" or "removed"; "" means
// nothing changed) and ends a session whose device is no longer trusted.
func (r *Runtime) change(id string, edit func(*store.Device, time.Time) (string, []store.AuditEntry, error)) (*palyrav1.Device, error) {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	r.mu.RLock()
	d := r.devices[id]
	var rec store.Device
	if d != nil {
		rec = d.snapshot()
	}
	r.mu.RUnlock()
	if d == nil {
		return nil, fmt.Errorf("%w: no device %q", ErrNotFound, id)
	}

	kind, audit, err := edit(&rec, r.now())
	if err != nil {
		return nil, err
	}
	if kind == "" {
		r.mu.RLock()
		defer r.mu.RUnlock()
		return d.proto(), nil
	}
	if err := r.st.PutDevice(rec, audit...); err != nil {
		return nil, fmt.Errorf("store device %s: %w", id, err)
	}

	r.mu.Lock()
	d.set(rec)
	var live *conn
	if rec.Trust != TrustTrusted {
		live = d.conn
	}
	r.publishLocked(kind, d)
	out := d.proto()
	r.mu.Unlock()
	if live != nil {
		live.end(errDeviceRevoked)
	}
	for _, e := range audit {
		r.log.Info("device changed", "device", id, "change", e.Kind, "by", e.Actor, "detail", e.Detail)
	}
	return out, nil
}

// renew issues a new certificate for the calling device's key. The one before it stays
// accepted until its own expiry; older ones are refused.
func (r *Runtime) renew(id identity) (*palyrav1.RenewReply, error) {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	now := r.now()
	r.mu.RLock()
	d := r.devices[id.deviceID]
	err := r.acceptsLocked(id.certFP, now)
	var rec store.Device
	if err == nil {
		rec = d.snapshot()
	}
	r.mu.RUnlock()
	if err != nil {
		return nil, err
	}

	der, notAfter, err := r.issue(rec.PublicKey, rec.ID, now)
	if err != nil {
		r.log.Error("renew client certificate", "device", rec.ID, "err", err)
		return nil, status.Error(codes.Internal, "could not issue a certificate; see palyrad's log")
	}
	// The certificate kept beside the new one is the one this call came with, so a node that
	// lost the reply of its last renewal still holds a certificate that works.
	dropped := rec.PrevCertFingerprint
	if id.certFP == rec.PrevCertFingerprint {
		dropped = rec.CertFingerprint
	} else {
		rec.PrevCertFingerprint, rec.PrevCertExpiresAt = rec.CertFingerprint, rec.CertExpiresAt
	}
	rec.CertFingerprint, rec.CertExpiresAt = pki.Fingerprint(der), notAfter
	err = r.st.PutDevice(rec, store.AuditEntry{At: now, Kind: "device.cert_renewed", Actor: rec.ID, Subject: rec.ID,
		Detail: fmt.Sprintf("certificate %s until %s", rec.CertFingerprint, notAfter.UTC().Format(time.RFC3339))})
	if err != nil {
		r.log.Error("store renewed certificate", "device", rec.ID, "err", err)
		return nil, status.Error(codes.Internal, "could not record the certificate; see palyrad's log")
	}

	r.mu.Lock()
	if dropped != "" && r.byCert[dropped] == d {
		delete(r.byCert, dropped)
	}
	r.byCert[rec.CertFingerprint] = d
	d.set(rec)
	r.publishLocked("changed", d)
	r.mu.Unlock()
	r.log.Info("client certificate renewed", "device", rec.ID, "cert", rec.CertFingerprint)
	return &palyrav1.RenewReply{ClientCert: der, CertExpiresUnixMs: notAfter.UnixMilli()}, nil
}

// label makes a name, platform or version from a node printable and short.
func label(s string) string {
	return cut(strings.TrimSpace(textsafe.Clean(s)), maxLabel)
}
