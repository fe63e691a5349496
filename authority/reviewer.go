package authority

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"kubernaut.io/stepvalidation/catalog"
)

// MaxAllowedFor is how long an allowed answer may be reused, at most. A denial is
// never reused, so a granted permission takes effect at once and a revoked one
// within AllowedFor.
const MaxAllowedFor = time.Minute

// Bounds on the reviewer's work and memory.
const (
	// concurrentReviews is how many SubjectAccessReviews one call has in flight.
	concurrentReviews = 8
	// maxRemembered bounds the allowed answers kept: many requesters times many
	// permissions must not grow the manager without bound.
	maxRemembered = 10000
)

// Reviewer asks the API server whether requesters hold permissions, with one
// SubjectAccessReview per permission, and remembers allowed answers for a while.
// It is safe for concurrent use.
type Reviewer struct {
	// Client creates SubjectAccessReviews (create on
	// subjectaccessreviews.authorization.k8s.io).
	Client client.Client
	// AllowedFor is how long an allowed answer is reused: MaxAllowedFor when zero
	// or more; negative asks the API server every time.
	AllowedFor time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	// inFlight shares one SubjectAccessReview among the callers that ask the
	// same question at once: when a cached answer expires under load, every
	// request in flight asks it again at the same moment.
	inFlight singleflight.Group

	mu      sync.Mutex
	allowed map[answer]time.Time // expiry of each allowed answer
	// notEverywhere holds, with its expiry, the cluster-wide permissions a
	// requester was found not to hold everywhere: ask in the namespace then.
	notEverywhere map[answer]time.Time
}

type answer struct {
	who  string // Requester.Encode
	perm Permission
}

// Missing returns the permissions of perms that who does not hold, in the order
// of perms. An error means the API server could not answer: nothing is known
// then, and the caller must not act.
func (r *Reviewer) Missing(ctx context.Context, who Requester, perms []Permission) ([]Permission, error) {
	key := who.Encode()
	now := r.now()
	denied := make([]bool, len(perms))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrentReviews)
	for i, p := range perms {
		if r.fresh(answer{key, p}, now) {
			continue
		}
		g.Go(func() error {
			if everywhere, err := r.everywhere(ctx, who, key, p, now); err != nil || everywhere {
				return err
			}
			ok, err := r.review(ctx, who, p)
			if err != nil {
				return err
			}
			switch {
			case !ok:
				denied[i] = true
			case r.AllowedFor >= 0:
				r.remember(answer{key, p}, now)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var missing []Permission
	for i, p := range perms {
		if denied[i] {
			missing = append(missing, p)
		}
	}
	return missing, nil
}

// everywhere reports whether who holds p in every namespace and for every name,
// as a ClusterRoleBinding grants it: then one review serves every namespace and
// object, for a platform team's operators and the actions' ServiceAccounts alike.
// That it does not is remembered as long as an allowed answer would be; it only
// sends the review to the namespace, so it never denies anything by itself.
func (r *Reviewer) everywhere(ctx context.Context, who Requester, key string, p Permission, now time.Time) (bool, error) {
	wide := p
	wide.Namespace, wide.Name = "", ""
	if wide == p || r.AllowedFor < 0 {
		return false, nil
	}
	a := answer{key, wide}
	if r.fresh(a, now) {
		return true, nil
	}
	r.mu.Lock()
	known := now.Before(r.notEverywhere[a])
	r.mu.Unlock()
	if known {
		return false, nil
	}
	ok, err := r.review(ctx, who, wide)
	if err != nil {
		return false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if ok {
		r.allowed = keep(r.allowed, a, now.Add(r.allowedFor()), now)
	} else {
		r.notEverywhere = keep(r.notEverywhere, a, now.Add(r.allowedFor()), now)
	}
	return ok, nil
}

// reviewTimeout bounds a shared review, which outlives the caller that started it.
const reviewTimeout = 10 * time.Second

// review asks whether who holds p, sharing the question with whoever asks it at
// the same time.
func (r *Reviewer) review(ctx context.Context, who Requester, p Permission) (bool, error) {
	key := fmt.Sprintf("%s\x00%#v", who.Encode(), p)
	answers := r.inFlight.DoChan(key, func() (any, error) {
		// Others may wait on this review: the first caller leaving must not end it.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reviewTimeout)
		defer cancel()
		return r.ask(ctx, who, p)
	})
	select {
	case <-ctx.Done():
		return false, ctx.Err()
	case a := <-answers:
		if a.Err != nil {
			return false, a.Err
		}
		return a.Val.(bool), nil
	}
}

// ask sends one SubjectAccessReview: does who hold p?
func (r *Reviewer) ask(ctx context.Context, who Requester, p Permission) (bool, error) {
	extra := make(map[string]authorizationv1.ExtraValue, len(who.Extra))
	for k, v := range who.Extra {
		extra[k] = v
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: who.Username, UID: who.UID, Groups: who.Groups, Extra: extra,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: p.Namespace, Verb: p.Verb, Group: p.Group, Resource: p.Resource, Subresource: p.Subresource, Name: p.Name,
		},
	}}
	if err := r.Client.Create(ctx, sar); err != nil {
		return false, fmt.Errorf("asking the API server whether user %q may %s: %w", who.Username, p, err)
	}
	return sar.Status.Allowed, nil
}

func (r *Reviewer) allowedFor() time.Duration {
	if r.AllowedFor == 0 || r.AllowedFor > MaxAllowedFor {
		return MaxAllowedFor
	}
	return r.AllowedFor
}

func (r *Reviewer) fresh(a answer, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return now.Before(r.allowed[a])
}

func (r *Reviewer) remember(a answer, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.allowed = keep(r.allowed, a, now.Add(r.allowedFor()), now)
}

// keep adds a to m until expires, within maxRemembered entries: past it, the
// expired go, then all.
func keep(m map[answer]time.Time, a answer, expires, now time.Time) map[answer]time.Time {
	if m == nil {
		m = map[answer]time.Time{}
	}
	if len(m) >= maxRemembered {
		for k, e := range m {
			if !now.Before(e) {
				delete(m, k)
			}
		}
		if len(m) >= maxRemembered {
			clear(m)
		}
	}
	m[a] = expires
	return m
}

func (r *Reviewer) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Explain says, for each missing permission, that who cannot do it and which
// action needs it: `user "x" cannot update deployments.apps/scale "web" in
// namespace "payments" (needed by scale_deployment)`.
func Explain(who Requester, action string, missing []Permission) []string {
	out := make([]string, len(missing))
	for i, p := range missing {
		out[i] = fmt.Sprintf("user %q cannot %s (needed by %s)", who.Username, p, action)
	}
	return out
}

// Check asks whether the requester that annotations record holds everything
// action needs with params, run from namespace. refused says in words what they
// lack, "" when nothing; a run with no valid requester recorded is refused too.
// An error means the API server could not answer.
func (r *Reviewer) Check(ctx context.Context, annotations map[string]string, a *catalog.Action, params map[string]any, namespace string) (refused string, _ error) {
	who, err := Recorded(annotations)
	if err != nil {
		return err.Error(), nil
	}
	perms, err := Needed(a, params, namespace)
	if err != nil {
		return err.Error(), nil
	}
	missing, err := r.Missing(ctx, who, perms)
	if err != nil || len(missing) == 0 {
		return "", err
	}
	return strings.Join(Explain(who, a.Name, missing), "; "), nil
}

// NewReviewer returns a Reviewer with a client of its own, without client-side
// rate limiting: one workflow asks a review per permission per step, and behind
// the manager's shared limit (20 requests a second by default) a ten-step
// workflow would wait three seconds. The API server's priority and fairness
// limits bound them instead, and each call of Missing has at most
// concurrentReviews in flight.
func NewReviewer(cfg *rest.Config, allowedFor time.Duration) (*Reviewer, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst, cfg.RateLimiter = -1, 0, nil
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return nil, fmt.Errorf("creating the client of the SubjectAccessReviews: %w", err)
	}
	return &Reviewer{Client: c, AllowedFor: allowedFor}, nil
}
