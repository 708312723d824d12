package broker

import "syscall"

// defaultBufferedBytes is a quarter of the machine's memory (the Go heap
// may grow to twice what is live before a collection), or 1 GiB when the
// machine's memory is unknown.
func defaultBufferedBytes() int64 {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil || si.Totalram == 0 {
		return 1 << 30
	}
	return int64(uint64(si.Totalram)*uint64(si.Unit)) / 4
}
