//go:build !unix

package broadcast

import "os/exec"

// setProcessGroup leaves cmd as it is: cancellation kills the process.
func setProcessGroup(*exec.Cmd) {}
