package main

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/palyra/palyra/internal/plural"
	"github.com/palyra/palyra/internal/textsafe"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// auditVerifyJSON is the documented shape of `audit verify --json`:
//
//	{"ok": false, "checked": 1042, "broken_seq": 977, "problem": "hash does not match the entry"}
//
// broken_seq and problem name the first entry that breaks the hash chain; 0 and "" when ok.
type auditVerifyJSON struct {
	OK        bool   `json:"ok"`
	Checked   uint64 `json:"checked"`
	BrokenSeq uint64 `json:"broken_seq"`
	Problem   string `json:"problem"`
}

// auditEntryJSON is the documented shape of one entry of `audit list --json` (an array,
// oldest first):
//
//	{"seq": 977, "unix_ms": …, "kind": "approval.decided", "actor": "admin",
//	 "subject": "ap-7", "detail": "approved (once)", "hash": "<64 hex>"}
type auditEntryJSON struct {
	Seq     uint64 `json:"seq"`
	UnixMs  int64  `json:"unix_ms"`
	Kind    string `json:"kind"`
	Actor   string `json:"actor"`
	Subject string `json:"subject"`
	Detail  string `json:"detail"`
	Hash    string `json:"hash"`
}

func newAuditCmd(g *globals) *cobra.Command {
	verbs := "verify or list"
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read and verify palyrad's hash-chained audit journal",
		Args:  noVerb(verbs),
		RunE: func(*cobra.Command, []string) error {
			return usageError{errors.New("audit needs one of " + verbs)}
		},
	}
	cmd.AddCommand(newAuditVerifyCmd(g), newAuditListCmd(g))
	return cmd
}

func newAuditVerifyCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the journal's hash chain (exit 0 intact, 1 broken)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.VerifyAuditReply, error) {
				return gw.Audit.VerifyAudit(ctx, &palyrav1.VerifyAuditRequest{})
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if err := writeJSON(out, auditVerifyJSON{OK: r.GetOk(), Checked: r.GetChecked(), BrokenSeq: r.GetBrokenSeq(), Problem: r.GetProblem()}); err != nil {
					return err
				}
				if !r.GetOk() {
					return &exitError{code: exitFailure, err: errors.New("")}
				}
				return nil
			}
			if !r.GetOk() {
				return fmt.Errorf("audit journal broken at entry %d: %s (%s checked)", r.GetBrokenSeq(), clean(r.GetProblem()), plural.Count(int(r.GetChecked()), "entry", "entries"))
			}
			fmt.Fprintf(out, "audit journal intact: %s checked\n", plural.Count(int(r.GetChecked()), "entry", "entries"))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (documented in the README)")
	return cmd
}

func newAuditListCmd(g *globals) *cobra.Command {
	var (
		limit  int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Print the newest journal entries, oldest first (-n 0: the whole journal)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return usageError{errors.New("-n must be 0 (everything) or more")}
			}
			entries, _, err := collectPages(cmd, g, limit, func(ctx context.Context, gw *gateway, size uint32, token string) ([]*palyrav1.AuditEntry, string, error) {
				reply, err := gw.Audit.ListAudit(ctx, &palyrav1.ListAuditRequest{PageSize: size, PageToken: token})
				return reply.GetEntries(), reply.GetNextPageToken(), err
			})
			if err != nil {
				return err
			}
			slices.Reverse(entries) // pages come newest first; a journal reads oldest first
			out := cmd.OutOrStdout()
			if asJSON {
				list := make([]auditEntryJSON, 0, len(entries))
				for _, e := range entries {
					list = append(list, auditEntryJSON{Seq: e.GetSeq(), UnixMs: e.GetUnixMs(), Kind: e.GetKind(),
						Actor: e.GetActor(), Subject: e.GetSubject(), Detail: e.GetDetail(), Hash: e.GetHash()})
				}
				return writeJSON(out, list)
			}
			if len(entries) == 0 {
				fmt.Fprintln(out, "the audit journal is empty")
				return nil
			}
			// One line per entry, unaligned, so a long detail is never cut: this is a record.
			for _, e := range entries {
				fmt.Fprintf(out, "%6d  %s  %s  %s  %s  %s\n", e.GetSeq(),
					fromUnixMs(e.GetUnixMs()).Local().Format("2006-01-02 15:04:05"), clean(e.GetKind()),
					clean(e.GetActor()), clean(e.GetSubject()), textsafe.Clean(e.GetDetail()))
			}
			return nil
		},
	}
	cmd.Flags().IntVarP(&limit, "lines", "n", 50, "how many of the newest entries; 0 for all")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (documented in the README)")
	return cmd
}
