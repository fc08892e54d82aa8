package pairing

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palyra/palyra/daemon/store"
)

type rig struct {
	p    *Pairing
	st   *store.Store
	path string
	log  *bytes.Buffer
	at   time.Time
}

func newRig(t *testing.T) *rig {
	t.Helper()
	path := filepath.Join(t.TempDir(), store.FileName)
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := &rig{st: st, path: path, log: &bytes.Buffer{}, at: time.Now()}
	r.p = New(st, slog.New(slog.NewTextHandler(r.log, nil)))
	r.p.now = func() time.Time { return r.at }
	return r
}

func (r *rig) mint(t *testing.T, method string, ttl time.Duration) Minted {
	t.Helper()
	m, err := r.p.Mint(method, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMintedCodes(t *testing.T) {
	r := newRig(t)
	pin := r.mint(t, PIN, 0)
	if !isPIN(pin.Secret) || pin.ExpiresAt.Sub(pin.CreatedAt) != DefaultTTL {
		t.Fatalf("pin %+v", pin)
	}
	qr := r.mint(t, QR, MaxTTL)
	if !strings.HasPrefix(qr.Secret, "pq_") || len(qr.Secret) < 40 {
		t.Fatalf("qr %+v", qr)
	}
	for _, ttl := range []time.Duration{MinTTL - time.Second, MaxTTL + time.Second} {
		if _, err := r.p.Mint(PIN, ttl); err == nil {
			t.Errorf("ttl %v accepted", ttl)
		}
	}
	if _, err := r.p.Mint("sms", 0); err == nil {
		t.Error("unknown method accepted")
	}
}

func TestCodeIsSingleUseAndExpires(t *testing.T) {
	r := newRig(t)
	m := r.mint(t, PIN, MinTTL)
	c, err := r.p.Redeem(m.Secret, "10.0.0.2")
	if err != nil || c.ID != m.ID || c.UsedAt.IsZero() {
		t.Fatalf("first redeem: %+v, %v", c, err)
	}
	if _, err := r.p.Redeem(m.Secret, "10.0.0.2"); !errors.Is(err, store.ErrCodeUsed) {
		t.Fatalf("second redeem: %v", err)
	}
	late := r.mint(t, QR, MinTTL)
	r.at = r.at.Add(MinTTL)
	if _, err := r.p.Redeem(late.Secret, "10.0.0.3"); !errors.Is(err, store.ErrCodeExpired) {
		t.Fatalf("expired: %v", err)
	}
}

func TestPeerIsRateLimited(t *testing.T) {
	r := newRig(t)
	m := r.mint(t, QR, 0)
	for i := range PeerFailures {
		if _, err := r.p.Redeem(fmt.Sprint("pq_wrong", i), "10.0.0.9"); !errors.Is(err, ErrInvalidCode) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	if _, err := r.p.Redeem(m.Secret, "10.0.0.9"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("limited peer with the right code: %v", err)
	}
	// Another peer is not held back, and the limited one may try again after the window.
	if _, err := r.p.Redeem("pq_wrong", "10.0.0.10"); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("another peer: %v", err)
	}
	r.at = r.at.Add(PeerWindow)
	if _, err := r.p.Redeem(m.Secret, "10.0.0.9"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestPINBruteForceBurnsLivePINs(t *testing.T) {
	r := newRig(t)
	pin := r.mint(t, PIN, 0)
	qr := r.mint(t, QR, 0)
	wrong := "000000"
	if wrong == pin.Secret {
		wrong = "000001"
	}
	// Guessers spread over many addresses dodge the per-peer limit, not the per-code one.
	for i := range MaxAttempts {
		if _, err := r.p.Redeem(wrong, fmt.Sprintf("10.0.1.%d", i)); !errors.Is(err, ErrInvalidCode) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if _, err := r.p.Redeem(pin.Secret, "10.0.2.1"); !errors.Is(err, store.ErrCodeBurned) {
		t.Fatalf("the right PIN after a brute force: %v", err)
	}
	if !strings.Contains(r.log.String(), "pairing code burned") || !strings.Contains(r.log.String(), pin.ID) {
		t.Fatalf("the operator was not told:\n%s", r.log)
	}
	page, err := r.st.Audit(0, 1, 1<<20)
	journal := page.Entries
	if err != nil || len(journal) != 1 || journal[0].Kind != "pairing.code_burned" || journal[0].Subject != pin.ID {
		t.Fatalf("the burn is not in the audit journal: %+v, %v", journal, err)
	}
	if _, err := r.p.Redeem(qr.Secret, "10.0.2.1"); err != nil {
		t.Fatalf("a QR code is not burned by wrong PINs: %v", err)
	}
}

func TestRacingRedeemsPairOnce(t *testing.T) {
	r := newRig(t)
	m := r.mint(t, QR, 0)
	var wins, used int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			_, err := r.p.Redeem(m.Secret, fmt.Sprintf("10.0.3.%d", i))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, store.ErrCodeUsed):
				used++
			default:
				t.Errorf("redeem: %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 || used != 9 {
		t.Fatalf("%d wins, %d told it was used; want 1 and 9", wins, used)
	}
}

func TestCodeSurvivesARestart(t *testing.T) {
	r := newRig(t)
	m := r.mint(t, PIN, 0)
	if err := r.st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(r.path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p := New(st, slog.New(slog.DiscardHandler))
	if c, err := p.Redeem(m.Secret, "10.0.0.2"); err != nil || c.ID != m.ID {
		t.Fatalf("after restart: %+v, %v", c, err)
	}
	codes, err := st.PairingCodes()
	if err != nil || len(codes) != 1 {
		t.Fatalf("codes %+v, %v", codes, err)
	}
}

func BenchmarkMintAndRedeem(b *testing.B) {
	st, err := store.Open(filepath.Join(b.TempDir(), store.FileName))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	p := New(st, slog.New(slog.DiscardHandler))
	for b.Loop() {
		m, err := p.Mint(QR, 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.Redeem(m.Secret, "10.0.0.1"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestParallelGuessesFromOnePeerAreLimited: attempts that arrive together are counted as
// they are admitted, so no more than PeerFailures of them reach the codes.
func TestParallelGuessesFromOnePeerAreLimited(t *testing.T) {
	r := newRig(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	tried := 0
	for i := range 40 {
		wg.Go(func() {
			_, err := r.p.Redeem(fmt.Sprint("pq_guess", i), "10.0.4.1")
			if errors.Is(err, ErrInvalidCode) {
				mu.Lock()
				tried++
				mu.Unlock()
			} else if !errors.Is(err, ErrRateLimited) {
				t.Errorf("guess %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if tried != PeerFailures {
		t.Fatalf("%d guesses reached the codes, want %d", tried, PeerFailures)
	}
}

// TestParallelWrongPINsBurnAtTheLimit: wrong PINs arriving together are each charged in the
// transaction that looked them up, so the code burns at exactly MaxAttempts.
func TestParallelWrongPINsBurnAtTheLimit(t *testing.T) {
	r := newRig(t)
	pin := r.mint(t, PIN, 0)
	var wg sync.WaitGroup
	for i := range 60 {
		guess := fmt.Sprintf("%06d", i)
		if guess == pin.Secret {
			continue
		}
		wg.Go(func() { r.p.Redeem(guess, fmt.Sprintf("10.0.5.%d", i)) })
	}
	wg.Wait()
	codes, err := r.st.PairingCodes()
	if err != nil || len(codes) != 1 {
		t.Fatal(codes, err)
	}
	if c := codes[0]; !c.Burned || c.FailedAttempts != MaxAttempts {
		t.Fatalf("after a burst of wrong PINs: burned %v after %d attempts, want burned after %d", c.Burned, c.FailedAttempts, MaxAttempts)
	}
}
