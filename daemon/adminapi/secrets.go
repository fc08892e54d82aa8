package adminapi

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/daemon/secrets"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// restartTimeout bounds the restart of the connectors that use a changed secret, which runs
// after the reply.
const restartTimeout = 30 * time.Second

type secretsServer struct {
	*API
	palyrav1.UnimplementedSecretsServiceServer
}

func (s secretsServer) store() (*secrets.Store, error) {
	if s.cfg.Secrets == nil {
		return nil, status.Error(codes.Unavailable, "this palyrad keeps no secrets")
	}
	return s.cfg.Secrets, nil
}

func (s secretsServer) SetSecret(ctx context.Context, req *palyrav1.SetSecretRequest) (*palyrav1.Secret, error) {
	st, err := s.store()
	if err != nil {
		return nil, err
	}
	info, err := st.Set(req.GetName(), req.GetValue())
	if err != nil {
		return nil, secretsStatus(err)
	}
	s.audit("secrets.set", principalFrom(ctx).Actor(), info.Name, info.Fingerprint)
	s.restartUsing(info.Name)
	return secretProto(info), nil
}

func (s secretsServer) ListSecrets(context.Context, *palyrav1.ListSecretsRequest) (*palyrav1.ListSecretsReply, error) {
	st, err := s.store()
	if err != nil {
		return nil, err
	}
	reply := &palyrav1.ListSecretsReply{}
	for _, info := range st.List() {
		reply.Secrets = append(reply.Secrets, secretProto(info))
	}
	return reply, nil
}

// RemoveSecret deletes a secret; the connectors that used it start again without it, so
// they show that it is missing rather than go on with a credential the operator took away.
func (s secretsServer) RemoveSecret(ctx context.Context, req *palyrav1.RemoveSecretRequest) (*palyrav1.RemoveSecretReply, error) {
	st, err := s.store()
	if err != nil {
		return nil, err
	}
	info, err := st.Remove(req.GetName())
	if err != nil {
		return nil, secretsStatus(err)
	}
	s.audit("secrets.remove", principalFrom(ctx).Actor(), info.Name, info.Fingerprint)
	s.restartUsing(info.Name)
	return &palyrav1.RemoveSecretReply{}, nil
}

// restartUsing starts the connectors that use secret again, in the background: the change
// is saved already, and a plugin slow to describe itself must not hold the reply.
func (s secretsServer) restartUsing(secret string) {
	p := s.cfg.Platform
	if p == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), restartTimeout)
		defer cancel()
		p.RestartUsing(ctx, secret)
	}()
}

func secretProto(info secrets.Info) *palyrav1.Secret {
	return &palyrav1.Secret{Name: info.Name, Fingerprint: info.Fingerprint, Bytes: int32(info.Size), UpdatedUnixMs: unixMs(info.UpdatedAt)}
}

// secretsStatus maps the secret store's errors to gRPC codes.
func secretsStatus(err error) error {
	switch {
	case errors.Is(err, secrets.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, secrets.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, secrets.ErrTooMany):
		return status.Error(codes.ResourceExhausted, err.Error()+": remove one first")
	}
	return statusOf(err)
}
