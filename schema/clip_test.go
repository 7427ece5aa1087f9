package schema

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClip(t *testing.T) {
	tests := []struct {
		in    string
		limit int
		want  string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"abcdefghijk", 10, "abcdefg..."},
		{"ééééé", 8, "éé..."},    // 2-byte runes: the cut moves back to a rune start
		{"a\xffb", 10, `a\xffb`}, // invalid UTF-8 is quoted
		{"abcdef", 2, "..."},
	}
	for _, tc := range tests {
		got := Clip(tc.in, tc.limit)
		if got != tc.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", tc.in, tc.limit, got, tc.want)
		}
		if !utf8.ValidString(got) {
			t.Errorf("Clip(%q, %d) = %q is not valid UTF-8", tc.in, tc.limit, got)
		}
	}
	if got := Clip(strings.Repeat("x", 1<<20), 4096); len(got) != 4096 {
		t.Errorf("a 1 MiB string clipped to 4096 bytes is %d bytes", len(got))
	}
}
