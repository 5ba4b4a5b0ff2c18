package gguf

import (
	"errors"
	"fmt"
	"math"
)

// ErrMissing is wrapped by accessor errors for keys the file does not have,
// so callers can tell an optional key's absence from a mistyped value.
var ErrMissing = errors.New("metadata key missing")

// Value returns the value of key.
func (f *File) Value(key string) (Value, bool) {
	i, ok := f.kv[key]
	if !ok {
		return Value{}, false
	}
	return f.Metadata[i].Value, true
}

// Has reports whether the file has metadata key.
func (f *File) Has(key string) bool { _, ok := f.kv[key]; return ok }

func (f *File) lookup(key string) (Value, error) {
	v, ok := f.Value(key)
	if !ok {
		return Value{}, fmt.Errorf("gguf: %w: %q", ErrMissing, key)
	}
	return v, nil
}

func mistyped(key string, v Value, want string) error {
	got := v.Type.String()
	if a, ok := v.Array(); ok {
		got = "array of " + a.Type.String()
	}
	return fmt.Errorf("gguf: metadata key %q is %s, want %s", key, got, want)
}

// String returns the string value of key.
func (f *File) String(key string) (string, error) {
	v, err := f.lookup(key)
	if err != nil {
		return "", err
	}
	s, ok := v.v.(string)
	if !ok {
		return "", mistyped(key, v, "string")
	}
	return s, nil
}

// Bool returns the bool value of key.
func (f *File) Bool(key string) (bool, error) {
	v, err := f.lookup(key)
	if err != nil {
		return false, err
	}
	b, ok := v.v.(bool)
	if !ok {
		return false, mistyped(key, v, "bool")
	}
	return b, nil
}

// Int returns the value of key, which may have any integer type.
func (f *File) Int(key string) (int64, error) {
	v, err := f.lookup(key)
	if err != nil {
		return 0, err
	}
	switch x := v.v.(type) {
	case uint8:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int64:
		return x, nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, fmt.Errorf("gguf: metadata key %q: %d is out of range", key, x)
		}
		return int64(x), nil
	}
	return 0, mistyped(key, v, "an integer")
}

// Uint returns the value of key, which may have any integer type but must
// not be negative.
func (f *File) Uint(key string) (uint64, error) {
	v, err := f.lookup(key)
	if err != nil {
		return 0, err
	}
	if x, ok := v.v.(uint64); ok {
		return x, nil
	}
	n, err := f.Int(key)
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, fmt.Errorf("gguf: metadata key %q is %d, want a non-negative number", key, n)
	}
	return uint64(n), nil
}

// Float returns the value of key, which may be a float or an integer.
func (f *File) Float(key string) (float64, error) {
	v, err := f.lookup(key)
	if err != nil {
		return 0, err
	}
	switch x := v.v.(type) {
	case float32:
		return float64(x), nil
	case float64:
		return x, nil
	}
	n, err := f.Int(key)
	if err != nil {
		return 0, mistyped(key, v, "a number")
	}
	return float64(n), nil
}

// OptUint is Uint with a default for a missing key; a present key of the
// wrong type is still an error.
func (f *File) OptUint(key string, def uint64) (uint64, error) {
	if !f.Has(key) {
		return def, nil
	}
	return f.Uint(key)
}

// OptFloat is Float with a default for a missing key.
func (f *File) OptFloat(key string, def float64) (float64, error) {
	if !f.Has(key) {
		return def, nil
	}
	return f.Float(key)
}

// OptBool is Bool with a default for a missing key.
func (f *File) OptBool(key string, def bool) (bool, error) {
	if !f.Has(key) {
		return def, nil
	}
	return f.Bool(key)
}

// OptString is String with a default for a missing key.
func (f *File) OptString(key string, def string) (string, error) {
	if !f.Has(key) {
		return def, nil
	}
	return f.String(key)
}

func arrayOf[T any](f *File, key, want string) ([]T, error) {
	v, err := f.lookup(key)
	if err != nil {
		return nil, err
	}
	a, _ := v.Array()
	s, ok := a.v.([]T)
	if !ok {
		return nil, mistyped(key, v, want)
	}
	return s, nil
}

// Strings returns the string array value of key.
func (f *File) Strings(key string) ([]string, error) {
	return arrayOf[string](f, key, "array of string")
}

// Float32s returns the float32 array value of key.
func (f *File) Float32s(key string) ([]float32, error) {
	return arrayOf[float32](f, key, "array of float32")
}

// Int32s returns the int32 array value of key.
func (f *File) Int32s(key string) ([]int32, error) {
	return arrayOf[int32](f, key, "array of int32")
}

// Ints returns the value of key as integers: an integer array of any
// element type, or a single integer as a one-element slice. Some
// architectures store per-layer values (e.g. head counts) either way.
func (f *File) Ints(key string) ([]int64, error) {
	v, err := f.lookup(key)
	if err != nil {
		return nil, err
	}
	a, ok := v.Array()
	if !ok {
		n, err := f.Int(key)
		if err != nil {
			return nil, err
		}
		return []int64{n}, nil
	}
	out := make([]int64, a.Len())
	for i := range out {
		var n int64
		switch s := a.v.(type) {
		case []uint8:
			n = int64(s[i])
		case []int8:
			n = int64(s[i])
		case []uint16:
			n = int64(s[i])
		case []int16:
			n = int64(s[i])
		case []uint32:
			n = int64(s[i])
		case []int32:
			n = int64(s[i])
		case []int64:
			n = s[i]
		case []uint64:
			if s[i] > math.MaxInt64 {
				return nil, fmt.Errorf("gguf: metadata key %q[%d]: %d is out of range", key, i, s[i])
			}
			n = int64(s[i])
		default:
			return nil, mistyped(key, v, "integers")
		}
		out[i] = n
	}
	return out, nil
}

// Architecture returns general.architecture, the model family (llama,
// qwen2, gemma2, ...) that prefixes the family's own keys.
func (f *File) Architecture() (string, error) {
	return f.String("general.architecture")
}
