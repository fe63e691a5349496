// Package apierr helps tests assert on the API server's Invalid errors: which
// fields were rejected, and why.
package apierr

import (
	. "github.com/onsi/ginkgo/v2" //nolint:staticcheck // gomega's DSL reads best dot-imported, as in the suites
	. "github.com/onsi/gomega"    //nolint:staticcheck // gomega's DSL reads best dot-imported, as in the suites
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Cause is one rejected field of an Invalid error: its path and message.
type Cause struct{ Field, Message string }

// Causes returns the field causes of an Invalid API error, failing the test when
// err is nil or another error.
func Causes(err error) []Cause {
	GinkgoHelper()
	Expect(err).To(HaveOccurred(), "the API server accepted the object")
	Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got: %v", err)
	var causes []Cause
	for _, c := range err.(apierrors.APIStatus).Status().Details.Causes {
		causes = append(causes, Cause{Field: c.Field, Message: c.Message})
	}
	return causes
}

// HaveCause matches causes that hold one at field whose message contains message.
func HaveCause(field, message string) OmegaMatcher {
	return ContainElement(And(HaveField("Field", field), HaveField("Message", ContainSubstring(message))))
}
