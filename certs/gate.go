package certs

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/webhook"
)

// Gate returns server wrapped so that it starts serving only once the Rotator
// is Ready. controller-runtime's webhook server reads tls.crt and tls.key when
// it starts and fails when they are missing, and the manager starts webhook
// servers before other runnables such as the Rotator. Pass the result as the
// manager's Options.WebhookServer.
func (r *Rotator) Gate(server webhook.Server) webhook.Server {
	return &gatedServer{Server: server, ready: r.ready}
}

// gatedServer is a webhook.Server whose Start waits for ready.
type gatedServer struct {
	webhook.Server
	ready <-chan struct{}
}

// Start waits for the certificates, then runs the wrapped server. It returns
// nil when ctx is done first, as the server would.
func (g *gatedServer) Start(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-g.ready:
	}
	return g.Server.Start(ctx)
}
