// Package authority keeps the manager from doing for a requester what they could
// not do themselves. It records who asked for a run (Requester, stored in the
// kubernaut.io/requested-by annotation), derives from the action catalog the
// permissions an action needs from them (Needed), and asks the API server whether
// they hold them (Reviewer, with SubjectAccessReviews). The admission webhooks call
// it before anything about the target is read; the execution reconciler calls it
// again right before acting, so revoked rights stop pending runs.
package authority
