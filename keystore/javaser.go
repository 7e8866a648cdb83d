package keystore

import (
	"fmt"
)

// skipJavaObject returns the length of the Java-serialized object at the start of b.
// JCEKS stores secret keys as serialized javax.crypto.SealedObject values with no length
// prefix, so reading past one means walking the serialization grammar (Java Object
// Serialization Specification, chapter 6). Only what a SealedObject uses is accepted:
// objects, class descriptors, arrays, strings, null and back references.
func skipJavaObject(b []byte) (int, error) {
	w := &javaWalker{r: sunReader{b: b}}
	if m := w.r.u16(); w.r.err == nil && m != 0xaced {
		return 0, fmt.Errorf("not a Java serialization stream (magic %04x)", m)
	}
	w.r.u16() // version
	w.content(0)
	if w.r.err != nil {
		return 0, w.r.err
	}
	return w.r.off, nil
}

const (
	tcNull      = 0x70
	tcReference = 0x71
	tcClassDesc = 0x72
	tcObject    = 0x73
	tcString    = 0x74
	tcArray     = 0x75
	tcEndBlock  = 0x78
	tcBlockData = 0x77
	tcLongStr   = 0x7c
	tcBlockLong = 0x7a

	scWriteMethod  = 0x01
	scSerializable = 0x02

	javaMaxDepth   = 32
	javaMaxHandles = 4096
)

type javaClass struct {
	name   string
	flags  byte
	fields []byte // type codes
	super  *javaClass
}

type javaWalker struct {
	r       sunReader
	handles []*javaClass // nil for handles that are not class descriptors
}

func (w *javaWalker) fail(format string, a ...any) {
	if w.r.err == nil {
		w.r.err = fmt.Errorf(format, a...)
	}
}

func (w *javaWalker) newHandle(c *javaClass) {
	if len(w.handles) >= javaMaxHandles {
		w.fail("more than %d objects", javaMaxHandles)
		return
	}
	w.handles = append(w.handles, c)
}

func (w *javaWalker) tc() byte {
	b := w.r.take(1)
	if b == nil {
		return 0
	}
	return b[0]
}

// classDesc reads a class descriptor: a new one, null or a reference.
func (w *javaWalker) classDesc(depth int) *javaClass {
	if depth > javaMaxDepth {
		w.fail("nested too deep")
		return nil
	}
	switch t := w.tc(); t {
	case tcNull:
		return nil
	case tcReference:
		return w.reference()
	case tcClassDesc:
		c := &javaClass{name: w.r.utf()}
		w.r.take(8) // serialVersionUID
		w.newHandle(c)
		c.flags = w.tc()
		n := w.r.u16()
		for i := 0; i < n && w.r.err == nil; i++ {
			code := w.tc()
			w.r.utf() // field name
			if code == '[' || code == 'L' {
				w.content(depth + 1) // the field's class name, a string
			}
			c.fields = append(c.fields, code)
		}
		w.annotation(depth)
		c.super = w.classDesc(depth + 1)
		return c
	default:
		w.fail("unexpected type code %#x for a class descriptor", t)
		return nil
	}
}

func (w *javaWalker) reference() *javaClass {
	h := int64(w.r.u32()) - 0x7e0000
	if w.r.err == nil && (h < 0 || h >= int64(len(w.handles))) {
		w.fail("reference to unknown handle")
		return nil
	}
	if w.r.err != nil {
		return nil
	}
	return w.handles[h]
}

// annotation skips block data and objects up to TC_ENDBLOCKDATA.
func (w *javaWalker) annotation(depth int) {
	for w.r.err == nil {
		switch t := w.peek(); t {
		case tcEndBlock:
			w.r.take(1)
			return
		case tcBlockData:
			w.r.take(1)
			w.r.take(int(w.tc()))
		case tcBlockLong:
			w.r.take(1)
			w.r.take(w.r.length())
		default:
			w.content(depth + 1)
		}
	}
}

func (w *javaWalker) peek() byte {
	if w.r.err != nil || w.r.off >= len(w.r.b) {
		w.fail("truncated")
		return 0
	}
	return w.r.b[w.r.off]
}

// content reads one object, array, string, null or reference.
func (w *javaWalker) content(depth int) {
	if depth > javaMaxDepth {
		w.fail("nested too deep")
		return
	}
	switch t := w.tc(); t {
	case tcNull:
	case tcReference:
		w.reference()
	case tcString:
		w.r.utf()
		w.newHandle(nil)
	case tcLongStr:
		n := w.r.u64()
		if n > uint64(len(w.r.b)) {
			w.fail("string length %d", n)
			return
		}
		w.r.take(int(n))
		w.newHandle(nil)
	case tcArray:
		c := w.classDesc(depth + 1)
		w.newHandle(nil)
		n := w.r.u32()
		if c == nil || len(c.name) < 2 {
			w.fail("array without a class")
			return
		}
		size := primitiveSize(c.name[1])
		if size == 0 { // array of objects
			if uint64(n) > uint64(len(w.r.b)) {
				w.fail("array length %d", n)
			}
			for i := uint32(0); i < n && w.r.err == nil; i++ {
				w.content(depth + 1)
			}
			return
		}
		if uint64(n)*uint64(size) > uint64(len(w.r.b)) {
			w.fail("array length %d", n)
			return
		}
		w.r.take(int(n) * size)
	case tcObject:
		c := w.classDesc(depth + 1)
		w.newHandle(nil)
		// Class data runs from the topmost superclass down.
		var chain []*javaClass
		for k := c; k != nil && len(chain) <= javaMaxDepth; k = k.super {
			chain = append(chain, k)
		}
		for i := len(chain) - 1; i >= 0 && w.r.err == nil; i-- {
			k := chain[i]
			if k.flags&scSerializable == 0 {
				w.fail("class %q is not serializable data this reader knows", k.name)
				return
			}
			for _, code := range k.fields {
				if size := primitiveSize(code); size > 0 {
					w.r.take(size)
				} else {
					w.content(depth + 1)
				}
			}
			if k.flags&scWriteMethod != 0 {
				w.annotation(depth)
			}
		}
	default:
		w.fail("unsupported type code %#x", t)
	}
}

func primitiveSize(code byte) int {
	switch code {
	case 'B', 'Z':
		return 1
	case 'C', 'S':
		return 2
	case 'I', 'F':
		return 4
	case 'J', 'D':
		return 8
	}
	return 0
}
