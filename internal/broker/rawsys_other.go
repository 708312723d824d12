//go:build !linux

package broker

import "syscall"

// rawSyscallRead and rawSyscallWrite are read(2) and write(2) on a
// non-blocking socket (rawsys_linux.go avoids the scheduler's bookkeeping).
func rawSyscallRead(fd uintptr, p []byte) (int, error) { return syscall.Read(int(fd), p) }

func rawSyscallWrite(fd uintptr, p []byte) (int, error) { return syscall.Write(int(fd), p) }
