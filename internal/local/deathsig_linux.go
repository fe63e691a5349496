package local

import "syscall"

// dieWithParent has the kernel kill the process when the one that started it dies.
func dieWithParent(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGKILL }
