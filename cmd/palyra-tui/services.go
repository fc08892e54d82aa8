package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/palyra/palyra/internal/adminclient"
	"github.com/palyra/palyra/internal/textsafe"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/supervisor/api"
	"github.com/palyra/palyra/supervisor/stack"
)

func newServicesCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "services",
		Short: "Start, stop or restart a service (daemon, browserd) or all",
		Args: func(_ *cobra.Command, args []string) error {
			return usageError{fmt.Errorf("services needs start, stop or restart")}
		},
	}
	type verb struct {
		name, short string
		call        func(c *api.Client, ctx context.Context, name string) ([]supervisor.ServiceStatus, error)
	}
	for _, v := range []verb{
		{"start", "Start a service, or all (starts the supervisor first if needed)", (*api.Client).StartService},
		{"stop", "Stop a service, or all; waits until stopped", (*api.Client).StopService},
		{"restart", "Restart a service, or all", (*api.Client).RestartService},
	} {
		cmd.AddCommand(&cobra.Command{
			Use:   v.name + " NAME|all",
			Short: v.short,
			Args:  exactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				// Before anything starts: a typo must not bring up a supervisor.
				if err := checkServiceName(g.cfg, args[0]); err != nil {
					return err
				}
				if err := mayOperateServices(cmd, g); err != nil {
					return err
				}
				ctx := cmd.Context()
				var client *api.Client
				var err error
				if v.name == "start" {
					client, _, err = stack.Ensure(ctx, g.cfg)
				} else {
					client, err = stack.Attach(ctx, g.cfg)
				}
				if err != nil {
					return err
				}
				defer client.Close()
				ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
				defer cancel()
				statuses, err := v.call(client, ctx, args[0])
				if errors.Is(err, supervisor.ErrUnknownService) {
					// The running supervisor was started with other services than this
					// configuration names.
					return usageError{err}
				}
				if err != nil {
					return err
				}
				for _, s := range statuses {
					fmt.Fprintf(cmd.OutOrStdout(), "%s: %s", s.Name, s.State)
					if s.PID != 0 {
						fmt.Fprintf(cmd.OutOrStdout(), " (pid %d)", s.PID)
					}
					fmt.Fprintln(cmd.OutOrStdout())
				}
				return nil
			},
		})
	}
	return cmd
}

// checkServiceName accepts the services cfg runs, and all.
func checkServiceName(cfg stack.Config, name string) error {
	var known []string
	for _, s := range cfg.Specs() {
		known = append(known, s.Name)
	}
	known = append(known, supervisor.All)
	if slices.Contains(known, name) {
		return nil
	}
	return usageError{fmt.Errorf("unknown service %q; the services are %s", name, strings.Join(known, ", "))}
}

func newShutdownCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "shutdown",
		Short: "Stop every service and the supervisor",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := mayOperateServices(cmd, g); err != nil {
				return err
			}
			client, err := stack.Attach(cmd.Context(), g.cfg)
			if err != nil {
				return err
			}
			defer client.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
			defer cancel()
			// A reply lost because the server went down first means the same as a reply.
			if err := client.Shutdown(ctx); err != nil && !errors.Is(err, api.ErrNotRunning) {
				return err
			}
			// Wait until the server is gone (its services stopped) so that a following
			// `palyra-tui` starts a fresh one instead of attaching to the one going away.
			deadline := time.Now().Add(60 * time.Second)
			for time.Now().Before(deadline) {
				ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Second)
				_, err := client.GetSnapshot(ctx)
				cancel()
				if errors.Is(err, api.ErrNotRunning) {
					fmt.Fprintln(cmd.OutOrStdout(), "supervisor and services stopped")
					return nil
				}
				time.Sleep(50 * time.Millisecond)
			}
			return fmt.Errorf("supervisor still answers after 60s")
		},
	}
}

// mayOperateServices refuses to act for a scoped token without services.operate, as the UI
// does. The supervisor's socket itself is open to this uid alone (that is the boundary);
// this keeps a scoped token's view read-only wherever it is used. palyrad says what the token
// may do, so a scoped token cannot act while palyrad does not answer.
func mayOperateServices(cmd *cobra.Command, g *globals) error {
	if scoped, err := adminclient.ScopedToken(g.cfg.Home, g.tokenFile); err != nil || !scoped {
		return err
	}
	who, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.WhoAmIReply, error) {
		return gw.Access.WhoAmI(ctx, &palyrav1.WhoAmIRequest{})
	})
	if err != nil {
		return fmt.Errorf("the token from %s is a scoped one, and palyrad must say whether it may operate services: %w; "+
			"or act with the admin token (without %s or --token-file)", tokenSource(g), err, adminclient.TokenEnv)
	}
	if !who.GetAdmin() && !slices.Contains(who.GetPermissions(), adminclient.ServicesOperate) {
		return fmt.Errorf("permission denied: token %q lacks the %s permission", textsafe.Clean(who.GetPrincipal()), adminclient.ServicesOperate)
	}
	return nil
}
