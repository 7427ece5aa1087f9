package events

import (
	"bytes"
	"math"
	"strconv"

	"github.com/ofstack/ofs/schema"
)

// Setting the columns of a target from the scanned JSON values.

// describe names the kind of a value for messages.
func describe(v jv) string {
	switch v.kind {
	case jNull:
		return "null"
	case jBool:
		return "a bool"
	case jNum:
		return "the number " + clip(string(v.raw))
	case jStr:
		return "a string"
	case jArr:
		return "an array"
	}
	return "an object"
}

// jsonKeys reads the key values into set, in key-column order.
func (d *Decoder) jsonKeys(e *schema.Entity, keys []jfield, set []string) *Error {
	for _, f := range keys {
		i, err := keyIndex(e, f.name, set)
		if err != nil {
			return err
		}
		col := e.Keys[i]
		var s string
		switch f.v.kind {
		case jStr:
			if col.Type == schema.String {
				s = unquote(f.v)
				err = checkKeyString(col.Name, s)
			} else {
				s, err = decimalKey(col, unquote(f.v))
			}
		case jNum:
			if col.Type == schema.String {
				return reject(CodeBadKey, "key %q is a string; got %s", col.Name, describe(f.v))
			}
			s, err = decimalKey(col, string(f.v.raw))
		default:
			return reject(CodeBadKey, "key %q is %v; got %s", col.Name, col.Type, describe(f.v))
		}
		if err != nil {
			return err
		}
		set[i] = s
	}
	return checkKeysComplete(e, set)
}

func (d *Decoder) jsonValues(t *target, g *schema.FeatureGroup, values []jfield) *Error {
	next := 0 // producers mostly write features in the version's order
	for k := range values {
		f := &values[k]
		i := next
		if i >= len(t.cols) || t.cols[i].Name != string(f.name) || !t.markSeen(i) {
			var err *Error
			if i, err = t.column(g, f.name); err != nil {
				return err
			}
		}
		next = i + 1
		if err := d.setJSON(t, i, &f.v); err != nil {
			return err
		}
	}
	return nil
}

func (d *Decoder) jsonPositional(t *target, from *schema.Version, pos []int, values []jv) *Error {
	if len(values) != len(pos) {
		return reject(CodeWrongValueCount, "%d positional_values for version %d, which has %d features", len(values), from.Number, len(pos))
	}
	for k := range values {
		if i := pos[k]; i >= 0 {
			t.markSeen(i)
			if err := d.setJSON(t, i, &values[k]); err != nil {
				return err
			}
		}
	}
	return nil
}

// setJSON sets column i from a JSON value.
func (d *Decoder) setJSON(t *target, i int, v *jv) *Error {
	c := &t.cols[i]
	switch v.kind {
	case jNull:
		return reject(CodeBadValue, "feature %q is null; leave a feature out to write its default", c.Name)
	case jBool:
		return t.setBool(i, v.b)
	case jStr:
		return t.setString(i, unquote(*v))
	case jNum:
		if c.Len != 0 {
			return wrongType(c, "a number")
		}
		return d.setNumber(t, i, v)
	case jArr:
		return d.setArray(t, i, d.elems[v.first:v.first+v.n])
	}
	return wrongType(c, describe(*v))
}

// setNumber sets a scalar column from a JSON number's text: exactly for
// integer features.
func (d *Decoder) setNumber(t *target, i int, v *jv) *Error {
	c, lit := &t.cols[i], v.raw
	if v.exact && c.Type == schema.FP32 {
		// The common feature: an exact literal of at most 15 digits is
		// finite and within fp32's range, so checkFloat has nothing to
		// refuse; the rounding is SetFloat64's.
		t.builder.SetFloat32(i, float32(v.f))
		return nil
	}
	if isInt(c.Type) {
		x, err := parseIntNamed(c.Name, -1, lit)
		switch {
		case err != nil:
			return err
		case x.neg:
			return t.setInt(i, x.i)
		}
		return t.setUint(i, x.u)
	}
	if !c.Type.IsFloat() {
		return wrongType(c, "a number")
	}
	f, err := v.float()
	if err != nil { // only a range error: the syntax was checked
		return reject(CodeOutOfRange, "feature %q: %s is out of the range of %v", c.Name, clip(string(lit)), c.Type)
	}
	return t.setFloat64(i, f)
}

// float is the value of a number.
func (v *jv) float() (float64, error) {
	if v.exact {
		return v.f, nil
	}
	return parseFloat(v.raw)
}

// parseFloat parses a number literal (its syntax already checked) without
// allocating. The common literal never comes here: the scanner reads it
// exactly (scanner.number).
func parseFloat(lit []byte) (float64, error) {
	return strconv.ParseFloat(string(lit), 64) // the conversion does not escape
}

// jsonInt is an integer read from JSON: i when neg, else u.
type jsonInt struct {
	neg bool
	i   int64
	u   uint64
}

// parseIntNamed reads an integer for feature name (element k, or -1 for a
// scalar) from a JSON number's text: an integer literal, or a literal such as
// 31.0 or 3e2 whose value is an integer that a float64 holds exactly.
func parseIntNamed(name string, k int, lit []byte) (jsonInt, *Error) {
	where := func() string {
		w := strconv.Quote(name)
		if k >= 0 {
			w += " element " + strconv.Itoa(k)
		}
		return w
	}
	if len(lit) == 0 {
		return jsonInt{}, reject(CodeBadValue, "feature %s: an empty number", where())
	}
	tooBig := func() *Error {
		return reject(CodeOutOfRange, "feature %s: %s does not fit a 64-bit integer", where(), clip(string(lit)))
	}
	if !bytes.ContainsAny(lit, ".eE") {
		if lit[0] == '-' {
			i, err := strconv.ParseInt(string(lit), 10, 64)
			if err != nil {
				return jsonInt{}, tooBig()
			}
			return jsonInt{neg: true, i: i}, nil
		}
		u, err := strconv.ParseUint(string(lit), 10, 64)
		if err != nil {
			return jsonInt{}, tooBig()
		}
		return jsonInt{u: u}, nil
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	switch {
	case err != nil || math.IsInf(f, 0):
		return jsonInt{}, tooBig()
	case f != math.Trunc(f):
		return jsonInt{}, reject(CodeWrongType, "feature %s: %s is not an integer", where(), clip(string(lit)))
	case math.Abs(f) > 1<<53:
		return jsonInt{}, reject(CodeOutOfRange, "feature %s: %s is not exact as a float; write the integer's digits", where(), clip(string(lit)))
	case f < 0:
		return jsonInt{neg: true, i: int64(f)}, nil
	}
	return jsonInt{u: uint64(f)}, nil
}

// setArray sets a vector column from a JSON array's elements.
func (d *Decoder) setArray(t *target, i int, arr []jv) *Error {
	c := &t.cols[i]
	if c.Len == 0 {
		return wrongType(c, "an array")
	}
	if len(arr) != c.Len {
		return wrongLength(c, len(arr))
	}
	elemType := func(k int, v jv) *Error {
		return reject(CodeWrongType, "feature %q is %s; element %d is %s", c.Name, shape(c), k, describe(v))
	}
	switch {
	case c.Type == schema.Bool:
		d.bools = d.bools[:0]
		for k, v := range arr {
			if v.kind != jBool {
				return elemType(k, v)
			}
			d.bools = append(d.bools, v.b)
		}
		return t.setBools(i, d.bools)
	case c.Type == schema.String:
		d.strs = d.strs[:0]
		for k, v := range arr {
			if v.kind != jStr {
				return elemType(k, v)
			}
			d.strs = append(d.strs, unquote(v))
		}
		return t.setStrings(i, d.strs)
	case c.Type.IsFloat():
		d.f64 = d.f64[:0]
		for k, v := range arr {
			if v.kind != jNum {
				return elemType(k, v)
			}
			f, err := v.float()
			if err != nil {
				return reject(CodeOutOfRange, "feature %q element %d: %s is out of the range of %v", c.Name, k, clip(string(v.raw)), c.Type)
			}
			d.f64 = append(d.f64, f)
		}
		return t.setFloat64s(i, d.f64)
	}
	// An integer type: signed values as int64, unsigned as uint64.
	signed := c.Type.IsSigned()
	d.i64, d.u64 = d.i64[:0], d.u64[:0]
	for k, v := range arr {
		if v.kind != jNum {
			return elemType(k, v)
		}
		x, err := parseIntNamed(c.Name, k, v.raw)
		if err != nil {
			return err
		}
		switch {
		case signed && x.neg:
			d.i64 = append(d.i64, x.i)
		case signed:
			if x.u > math.MaxInt64 {
				return checkUint(c, k, x.u)
			}
			d.i64 = append(d.i64, int64(x.u))
		case x.neg:
			return checkInt(c, k, x.i)
		default:
			d.u64 = append(d.u64, x.u)
		}
	}
	if signed {
		return t.setInt64s(i, d.i64, &d.f64)
	}
	return t.setUint64s(i, d.u64, &d.f64)
}
