//go:build memtest

package broker

import (
	"fmt"
	"testing"
	"unsafe"
)

func TestSizes(t *testing.T) {
	fmt.Println("conn", unsafe.Sizeof(conn{}), "session", unsafe.Sizeof(Session{}), "outItem", unsafe.Sizeof(outItem{}))
}
