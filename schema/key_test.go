package schema

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckKey(t *testing.T) {
	e := &Entity{Name: "user_item", Keys: []KeyColumn{{Name: "user_id", Type: Int64}, {Name: "sku", Type: String}}}
	ok := [][]string{{"42", "a|b"}, {"-9223372036854775808", strings.Repeat("x", MaxKeyBytes)}, {"0", "ü"}}
	for _, k := range ok {
		if err := e.CheckKey(k); err != nil {
			t.Errorf("CheckKey(%q): %v", k, err)
		}
	}
	bad := [][]string{{"42"}, {"042", "x"}, {"+1", "x"}, {"1.0", "x"}, {"9223372036854775808", "x"}, {"1", "\xff"}, {"", "x"}, {"1", ""},
		{"1", strings.Repeat("x", MaxKeyBytes+1)}}
	for _, k := range bad {
		if err := e.CheckKey(k); !errors.Is(err, ErrKey) {
			t.Errorf("CheckKey(%q) = %v, want ErrKey", k, err)
		}
	}
	for typ, cases := range map[DataType]map[string]bool{
		Int32:  {"2147483647": true, "2147483648": false, "-0": false},
		Uint32: {"4294967295": true, "4294967296": false, "-1": false},
		Uint64: {"18446744073709551615": true, "00": false},
		FP32:   {"1": false},
		String: {"": false, "a": true},
	} {
		for s, want := range cases {
			if err := CheckKeyValue(typ, s); (err == nil) != want {
				t.Errorf("CheckKeyValue(%s, %q) = %v, want ok=%v", typ, s, err, want)
			}
		}
	}
}

// TestCheckKeyValueMessageIsShort: a huge key is never repeated whole in
// the error (it would travel back in a gRPC trailer).
func TestCheckKeyValueMessageIsShort(t *testing.T) {
	huge := strings.Repeat("7", 1<<20)
	for _, typ := range []DataType{Int64, Uint64, Int32, String} {
		err := CheckKeyValue(typ, huge)
		if err == nil {
			t.Fatalf("%s: a 1 MB key accepted", typ)
		}
		if len(err.Error()) > 200 {
			t.Errorf("%s: message of %d bytes", typ, len(err.Error()))
		}
	}
}

// TestCanonicalKeyValue: the stores' rule takes any UTF-8 string, the
// empty one included; CheckKeyValue does not.
func TestCanonicalKeyValue(t *testing.T) {
	if err := CanonicalKeyValue(String, ""); err != nil {
		t.Errorf("the empty string: %v", err)
	}
	if err := CanonicalKeyValue(String, "\xff"); err == nil {
		t.Error("invalid UTF-8 accepted")
	}
	if err := CheckKeyValue(String, ""); err == nil {
		t.Error("CheckKeyValue takes an empty key")
	}
}

// FuzzPlainDecimal: the parse-free check never accepts what parsing and
// formatting back refuses, and accepts every short canonical integer.
func FuzzPlainDecimal(f *testing.F) {
	for _, s := range []string{"0", "-0", "00", "-", "", "7", "-7", "+7", "123456789", "1234567890", "999999999999999999",
		"-999999999999999999", "9223372036854775807", "18446744073709551615", "4294967295", "2147483648", "1x", "0x1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, typ := range []DataType{Int32, Int64, Uint32, Uint64} {
			fast, slow := plainDecimal(typ, s), canonicalByParsing(typ, s) == nil
			if fast && !slow {
				t.Fatalf("%s %q: plainDecimal accepts what parsing refuses", typ, s)
			}
			most := map[DataType]int{Int32: 9, Int64: 18, Uint32: 9, Uint64: 19}[typ]
			if slow && !fast && len(strings.TrimPrefix(s, "-")) <= most {
				t.Fatalf("%s %q: plainDecimal refuses a canonical integer of %d digits", typ, s, len(strings.TrimPrefix(s, "-")))
			}
		}
	})
}
