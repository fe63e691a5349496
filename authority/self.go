package authority

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Self asks the API server who c authenticates as (a SelfSubjectReview, which
// every authenticated user may create). The manager learns its own user name, the
// one the webhooks let write status, without being told; the CLI learns the name
// approvals are admitted under, which a kubeconfig with a token or an exec plugin
// does not say.
func Self(ctx context.Context, c client.Client) (string, error) {
	review := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(ctx, review); err != nil {
		return "", fmt.Errorf("asking the API server who this client is (SelfSubjectReview): %w", err)
	}
	if review.Status.UserInfo.Username == "" {
		return "", fmt.Errorf("the API server's SelfSubjectReview names no user")
	}
	return review.Status.UserInfo.Username, nil
}
