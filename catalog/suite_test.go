package catalog_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The catalog's actions against real control planes: the executors act, each as its
// own ServiceAccount, on the cluster BeforeSuite starts (executor_*_test.go); each
// group of facts providers reads a cluster of its own, started in its container
// (facts_*_test.go), so that one group's nodes and pods never change another's
// capacity facts.
func TestCatalog(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Catalog")
}
