package rawio

import (
	"syscall"
	"unsafe"
)

// PeekAlive peeks at an idle connection without blocking: EAGAIN means
// open and quiet; EOF, data or an error mean it cannot be reused.
func PeekAlive(rc syscall.RawConn) bool {
	alive := false
	var b [1]byte
	// Control, not Read: a read deadline left from the last request must
	// not count.
	err := rc.Control(func(fd uintptr) {
		_, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		alive = errno == syscall.EAGAIN
	})
	return err == nil && alive
}
