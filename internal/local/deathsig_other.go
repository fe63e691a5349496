//go:build !linux

package local

import "syscall"

// dieWithParent does nothing where the kernel cannot tie a process's life to its
// parent's: an attached cluster's processes outlive a killed CLI there (local
// down stops them). The control plane the CLI starts is built for Linux anyway.
func dieWithParent(*syscall.SysProcAttr) {}
