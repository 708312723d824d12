//go:build !linux

package broker

// defaultBufferedBytes is 1 GiB where the machine's memory is not read.
func defaultBufferedBytes() int64 { return 1 << 30 }
