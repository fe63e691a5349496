package facts_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"kubernaut.io/stepvalidation/conditions"
)

// The providers of the facts are tested with the catalog's actions
// (catalog/facts_*_test.go); here, the safety input.

var engine = conditions.NewEngine(conditions.Options{})

func TestFacts(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Facts")
}
