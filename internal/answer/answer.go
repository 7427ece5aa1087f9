// Package answer renders a Retrieve answer for people and scripts: an
// aligned table (what `ofs get` and `ofs dev`'s demo print) or one JSON
// object per key (`ofs get -o json`).
package answer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
)

// vectorShown is how many elements of a vector the table shows without full.
const vectorShown = 8

// columnNames names the columns of the answer: the feature's name, or
// group.feature when several groups of the answer have a feature of that
// name.
func columnNames(cols []*featurev1.Column) []string {
	count := map[string]int{}
	for _, c := range cols {
		count[c.GetName()]++
	}
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.GetName()
		if count[c.GetName()] > 1 {
			out[i] = c.GetFeatureGroup() + "." + c.GetName()
		}
	}
	return out
}

// Table writes the answer as an aligned table: the key columns, a found
// column per group, then one column per feature; a vector shows its first
// few elements unless full.
func Table(w io.Writer, req *featurev1.RetrieveRequest, resp *featurev1.RetrieveResponse, keyNames []string, full bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := append([]string(nil), keyNames...)
	for _, g := range req.GetGroups() {
		if len(req.GetGroups()) == 1 {
			head = append(head, "found")
		} else {
			head = append(head, "found:"+g.GetFeatureGroup())
		}
	}
	head = append(head, columnNames(resp.GetColumns())...)
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for i, row := range resp.GetRows() {
		cells := append([]string(nil), req.GetKeys()[i].GetValues()...)
		for _, f := range row.GetFound() {
			cells = append(cells, strconv.FormatBool(f))
		}
		for _, v := range row.GetValues() {
			cells = append(cells, textValue(v, full))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// textValue formats a value for the table: a vector as [a b c …].
func textValue(v *featurev1.Value, full bool) string {
	elems, isList := listElems(v)
	if !isList {
		s := elems[0]
		if v.GetKind() != nil {
			if _, isStr := v.GetKind().(*featurev1.Value_StringValue); isStr && (s == "" || strings.ContainsAny(s, " \t\n\"")) {
				return strconv.Quote(s)
			}
		}
		return s
	}
	if !full && len(elems) > vectorShown {
		elems = append(elems[:vectorShown:vectorShown], "…")
	}
	return "[" + strings.Join(elems, " ") + "]"
}

// listElems returns the elements of v as text, and whether v is a vector.
func listElems(v *featurev1.Value) ([]string, bool) {
	f32 := func(x float32) string { return strconv.FormatFloat(float64(x), 'g', -1, 32) }
	f64 := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	switch k := v.GetKind().(type) {
	case *featurev1.Value_BoolValue:
		return []string{strconv.FormatBool(k.BoolValue)}, false
	case *featurev1.Value_Int64Value:
		return []string{strconv.FormatInt(k.Int64Value, 10)}, false
	case *featurev1.Value_Uint64Value:
		return []string{strconv.FormatUint(k.Uint64Value, 10)}, false
	case *featurev1.Value_FloatValue:
		return []string{f32(k.FloatValue)}, false
	case *featurev1.Value_DoubleValue:
		return []string{f64(k.DoubleValue)}, false
	case *featurev1.Value_StringValue:
		return []string{k.StringValue}, false
	case *featurev1.Value_BoolList:
		return mapStrings(k.BoolList.GetValues(), strconv.FormatBool), true
	case *featurev1.Value_Int64List:
		return mapStrings(k.Int64List.GetValues(), func(x int64) string { return strconv.FormatInt(x, 10) }), true
	case *featurev1.Value_Uint64List:
		return mapStrings(k.Uint64List.GetValues(), func(x uint64) string { return strconv.FormatUint(x, 10) }), true
	case *featurev1.Value_FloatList:
		return mapStrings(k.FloatList.GetValues(), f32), true
	case *featurev1.Value_DoubleList:
		return mapStrings(k.DoubleList.GetValues(), f64), true
	case *featurev1.Value_StringList:
		return mapStrings(k.StringList.GetValues(), strconv.Quote), true
	}
	return []string{"-"}, false
}

func mapStrings[T any](xs []T, f func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

// JSON writes the answer as JSON lines, one object per key.
func JSON(w io.Writer, req *featurev1.RetrieveRequest, resp *featurev1.RetrieveResponse, keyNames []string) error {
	names := columnNames(resp.GetColumns())
	var b bytes.Buffer
	for i, row := range resp.GetRows() {
		b.Reset()
		b.WriteString(`{"keys":{`)
		for j, v := range req.GetKeys()[i].GetValues() {
			writeMember(&b, j, keyNames[j], v)
		}
		b.WriteString(`},"found":{`)
		for j, f := range row.GetFound() {
			writeMember(&b, j, req.GetGroups()[j].GetFeatureGroup(), f)
		}
		b.WriteString(`},"values":{`)
		for j, v := range row.GetValues() {
			writeMember(&b, j, names[j], jsonValue(v))
		}
		b.WriteString("}}\n")
		if _, err := w.Write(b.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// writeMember writes "name":value, preceded by a comma unless it is the
// first member.
func writeMember(b *bytes.Buffer, i int, name string, v any) {
	if i > 0 {
		b.WriteByte(',')
	}
	k, _ := json.Marshal(name) // a string always marshals
	b.Write(k)
	b.WriteByte(':')
	val, err := json.Marshal(v)
	if err != nil {
		val, _ = json.Marshal(fmt.Sprint(v)) // a string always marshals
	}
	b.Write(val)
}

// jsonValue returns v as a value encoding/json writes exactly: floats in
// the shortest text of their width, non-finite ones as strings.
func jsonValue(v *featurev1.Value) any {
	f32 := func(x float32) any { return jsonFloat(float64(x), 32) }
	f64 := func(x float64) any { return jsonFloat(x, 64) }
	switch k := v.GetKind().(type) {
	case *featurev1.Value_BoolValue:
		return k.BoolValue
	case *featurev1.Value_Int64Value:
		return k.Int64Value
	case *featurev1.Value_Uint64Value:
		return k.Uint64Value
	case *featurev1.Value_FloatValue:
		return f32(k.FloatValue)
	case *featurev1.Value_DoubleValue:
		return f64(k.DoubleValue)
	case *featurev1.Value_StringValue:
		return k.StringValue
	case *featurev1.Value_BoolList:
		return k.BoolList.GetValues()
	case *featurev1.Value_Int64List:
		return k.Int64List.GetValues()
	case *featurev1.Value_Uint64List:
		return k.Uint64List.GetValues()
	case *featurev1.Value_FloatList:
		return mapAny(k.FloatList.GetValues(), f32)
	case *featurev1.Value_DoubleList:
		return mapAny(k.DoubleList.GetValues(), f64)
	case *featurev1.Value_StringList:
		return k.StringList.GetValues()
	}
	return nil
}

func jsonFloat(x float64, bits int) any {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return strconv.FormatFloat(x, 'g', -1, bits)
	}
	return json.Number(strconv.FormatFloat(x, 'g', -1, bits))
}

func mapAny[T any](xs []T, f func(T) any) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}
