package gguf

import (
	"fmt"
	"reflect"
	"strings"
)

// ValueType is the type tag of a metadata value, as stored in the file.
type ValueType uint32

const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var valueTypeNames = [...]string{
	"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string",
	"array", "uint64", "int64", "float64",
}

func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// size is the encoded size of a scalar of type t, or 0 for strings and
// arrays (variable) and unknown types.
func (t ValueType) size() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	}
	return 0
}

// minSize is the smallest number of bytes an encoded value of type t can
// occupy. The reader uses it to reject array lengths the file cannot hold
// before allocating anything.
func (t ValueType) minSize() int {
	switch t {
	case TypeString:
		return 8 // length prefix
	case TypeArray:
		return 4 + 8 // element type + count
	}
	return t.size()
}

// Value is one metadata value. Scalars hold the Go type matching their
// ValueType (uint8 ... float64, bool, string); arrays hold an Array.
type Value struct {
	Type ValueType
	v    any
}

// Array is a metadata array: a typed Go slice ([]uint8 ... []float64,
// []bool, []string) or, for arrays of arrays, []Array.
type Array struct {
	Type ValueType // element type
	v    any
}

// Any returns the value as a Go value (see Value).
func (v Value) Any() any { return v.v }

// Array returns the value as an array; ok is false for scalars.
func (v Value) Array() (Array, bool) {
	a, ok := v.v.(Array)
	return a, ok
}

// Any returns the array's elements as a typed Go slice (see Array).
func (a Array) Any() any { return a.v }

// Len is the number of elements of the array.
func (a Array) Len() int {
	if a.v == nil {
		return 0
	}
	return reflect.ValueOf(a.v).Len()
}

// ValueOf converts a Go value into a metadata Value: the integer, float,
// bool and string types map to their GGUF types, slices of them to arrays,
// and Value or Array are taken as they are.
func ValueOf(x any) (Value, error) {
	switch x := x.(type) {
	case Value:
		return x, nil
	case Array:
		return Value{TypeArray, x}, nil
	case uint8:
		return Value{TypeUint8, x}, nil
	case int8:
		return Value{TypeInt8, x}, nil
	case uint16:
		return Value{TypeUint16, x}, nil
	case int16:
		return Value{TypeInt16, x}, nil
	case uint32:
		return Value{TypeUint32, x}, nil
	case int32:
		return Value{TypeInt32, x}, nil
	case float32:
		return Value{TypeFloat32, x}, nil
	case bool:
		return Value{TypeBool, x}, nil
	case string:
		return Value{TypeString, x}, nil
	case uint64:
		return Value{TypeUint64, x}, nil
	case int64:
		return Value{TypeInt64, x}, nil
	case float64:
		return Value{TypeFloat64, x}, nil
	}
	a, err := ArrayOf(x)
	if err != nil {
		return Value{}, err
	}
	return Value{TypeArray, a}, nil
}

// ArrayOf wraps a Go slice as an Array.
func ArrayOf(x any) (Array, error) {
	switch x := x.(type) {
	case []uint8:
		return Array{TypeUint8, x}, nil
	case []int8:
		return Array{TypeInt8, x}, nil
	case []uint16:
		return Array{TypeUint16, x}, nil
	case []int16:
		return Array{TypeInt16, x}, nil
	case []uint32:
		return Array{TypeUint32, x}, nil
	case []int32:
		return Array{TypeInt32, x}, nil
	case []float32:
		return Array{TypeFloat32, x}, nil
	case []bool:
		return Array{TypeBool, x}, nil
	case []string:
		return Array{TypeString, x}, nil
	case []uint64:
		return Array{TypeUint64, x}, nil
	case []int64:
		return Array{TypeInt64, x}, nil
	case []float64:
		return Array{TypeFloat64, x}, nil
	case []Array:
		return Array{TypeArray, x}, nil
	}
	return Array{}, fmt.Errorf("gguf: cannot store a %T as metadata", x)
}

// String formats the value for people: strings quoted, arrays summarised
// after a few elements.
func (v Value) String() string {
	if a, ok := v.v.(Array); ok {
		return a.String()
	}
	if s, ok := v.v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v.v)
}

const summaryElems = 8

// String summarises the array: its element type, length and first elements.
func (a Array) String() string {
	n := a.Len()
	var b strings.Builder
	fmt.Fprintf(&b, "[%s x %d]", a.Type, n)
	if n == 0 {
		return b.String()
	}
	b.WriteString(" [")
	for i := 0; i < n && i < summaryElems; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.elemString(i))
	}
	if n > summaryElems {
		b.WriteString(", ...")
	}
	b.WriteString("]")
	return b.String()
}

func (a Array) elemString(i int) string {
	switch s := a.v.(type) {
	case []string:
		const max = 40
		if len(s[i]) > max {
			return fmt.Sprintf("%q...", s[i][:max])
		}
		return fmt.Sprintf("%q", s[i])
	case []Array:
		return s[i].String()
	}
	return fmt.Sprint(reflect.ValueOf(a.v).Index(i).Interface())
}
