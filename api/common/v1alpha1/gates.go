package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultBlockedTimeout is how long a blocked run waits for an override when its
// blockedTimeout is unset.
const DefaultBlockedTimeout = 30 * time.Minute

// Gates are the points where a run waits for a person: an approval before it acts,
// and an override when a required precondition blocks it. Both kinds carry them in
// spec.executionStrategy.
type Gates struct {
	// approvalRequired makes the run wait in waiting_approval before it acts, until
	// approvalsRequired people have approved it in spec.approvals.
	// +optional
	ApprovalRequired bool `json:"approvalRequired,omitempty"`

	// approvalsRequired is how many distinct approvers must approve; 1 when unset.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	ApprovalsRequired *int32 `json:"approvalsRequired,omitempty"`

	// approvalTimeout is how long the run waits for approval before it fails;
	// 1h when unset.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	ApprovalTimeout *metav1.Duration `json:"approvalTimeout,omitempty"`

	// blockedTimeout is how long a run blocked by a required precondition waits
	// for an override before it fails; 30m when unset.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	BlockedTimeout *metav1.Duration `json:"blockedTimeout,omitempty"`
}

// Approvals returns how many distinct approvers a run needs.
func (g *Gates) Approvals() int {
	if g.ApprovalsRequired == nil || *g.ApprovalsRequired < 1 {
		return 1
	}
	return int(*g.ApprovalsRequired)
}

// ApprovalWait returns how long a run waits for approval.
func (g *Gates) ApprovalWait() time.Duration {
	if g.ApprovalTimeout != nil && g.ApprovalTimeout.Duration > 0 {
		return g.ApprovalTimeout.Duration
	}
	return DefaultApprovalTimeout
}

// BlockedWait returns how long a blocked run waits for an override.
func (g *Gates) BlockedWait() time.Duration {
	if g.BlockedTimeout != nil && g.BlockedTimeout.Duration > 0 {
		return g.BlockedTimeout.Duration
	}
	return DefaultBlockedTimeout
}

// ApprovalDecision is an approver's answer.
// +kubebuilder:validation:Enum=approve;reject
type ApprovalDecision string

const (
	// Approve lets the run go on once enough approvers said so.
	Approve ApprovalDecision = "approve"
	// Reject fails the run.
	Reject ApprovalDecision = "reject"
)

// Approval is one person's decision on a run, appended to spec.approvals. The
// admission webhook admits it only from the approver named, who must hold verb
// approve on the run's resource in its namespace and must not be its requester;
// entries are never edited or removed.
type Approval struct {
	// approver is the user name of the person deciding, as the API server
	// authenticates them.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Approver string `json:"approver"`

	// decision is approve or reject.
	// +required
	Decision ApprovalDecision `json:"decision"`

	// reason says why, for the audit trail.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Reason string `json:"reason"`
}

// ApprovalRecord is an approval as the manager saw it: the entry and when it was
// first observed.
type ApprovalRecord struct {
	Approval `json:",inline"`

	// observedTime is when the manager first saw the entry.
	// +required
	ObservedTime metav1.Time `json:"observedTime"`
}

// OverrideRecord is an override that applies to a run, from the override
// annotations of the object it was set on.
type OverrideRecord struct {
	// source is the object that carries the override: WorkflowExecution/<name> or
	// KubernetesExecution/<name>.
	// +required
	Source string `json:"source"`

	// conditions are the condition types it skips.
	// +required
	// +listType=atomic
	Conditions []string `json:"conditions"`

	// by is who set it (annotation kubernaut.io/override-by, stamped by the
	// admission webhook).
	// +optional
	By string `json:"by,omitempty"`

	// reason is why (annotation kubernaut.io/override-reason).
	// +optional
	Reason string `json:"reason,omitempty"`

	// at is when it was set (annotation kubernaut.io/override-at).
	// +optional
	At *metav1.Time `json:"at,omitempty"`

	// expires is when it stops applying to new evaluations
	// (annotation kubernaut.io/override-expires).
	// +optional
	Expires *metav1.Time `json:"expires,omitempty"`

	// expired is true once expires has passed: the conditions are evaluated again.
	// +optional
	Expired bool `json:"expired,omitempty"`
}
