package httpapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestRCDecodeJSON(t *testing.T) {
	cases := []struct {
		name, in string
		want     string // strict JSON of the value
	}{
		{"standard", `{"a": [1, "x", true, null], "b": {"c": 2.5}}`, `{"a": [1, "x", true, null], "b": {"c": 2.5}}`},
		{"seed trailing comma", "{\n  \"jobId\": \"59d2\", \n  \"fqdn\": \"127.0.0.1\", \n}", `{"jobId": "59d2", "fqdn": "127.0.0.1"}`},
		{"trailing comma in nested object", `{"m": {"A": "1",},}`, `{"m": {"A": "1"}}`},
		{"trailing comma in array", `{"l": ["a", "b",]}`, `{"l": ["a", "b"]}`},
		{"empty array elements are null", `{"l": [,"a",,"b"]}`, `{"l": [null, "a", null, "b"]}`},
		{"unquoted names", `{nodeGroupType: "x", my-key.v: 1}`, `{"nodeGroupType": "x", "my-key.v": 1}`},
		{"single quotes", `{'a': 'it\'s "so"'}`, `{"a": "it's \"so\""}`},
		{"unquoted values", `{"a": x, "b": TRUE, "c": Null, "d": 12abc, "e": 1e3, "f": -}`,
			`{"a": "x", "b": true, "c": null, "d": "12abc", "e": 1e3, "f": "-"}`},
		{"= and => and ;", `{"a" = 1; "b" => [2; 3]}`, `{"a": 1, "b": [2, 3]}`},
		{"comments", "// lead\n# hash\n{/* c */\"a\": /* d */ 1 // end\n}\n// after", `{"a": 1}`},
		{"non-execute prefix", ")]}'\n{\"a\": 1}", `{"a": 1}`},
		{"byte order mark", "\uFEFF{\"a\": 1}", `{"a": 1}`},
		{"escapes", `{"a": "\q\/\u00e9\ud83d\ude00\ud800x", "b": "tab	raw"}`, `{"a": "q/é😀\ufffdx", "b": "tab\traw"}`},
		{"later duplicate wins", `{"a": 1, "a": 2,}`, `{"a": 2}`},
		{"empty containers", `{"a": {}, "b": [], "c": [,]}`, `{"a": {}, "b": [], "c": [null]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rcDecodeJSON([]byte(tc.in))
			if err != nil {
				t.Fatalf("rcDecodeJSON(%q): %v", tc.in, err)
			}
			dec := json.NewDecoder(strings.NewReader(tc.want))
			dec.UseNumber()
			var want any
			if err := dec.Decode(&want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("rcDecodeJSON(%q) = %#v, want %#v", tc.in, got, want)
			}
		})
	}

	bad := []struct{ name, in, mention string }{
		{"unterminated object", `{"a": 1`, "unterminated object"},
		{"missing comma", `{"a": "x" "b": 1}`, "want , or }"},
		{"empty name", `{"a": 1,, "b": 2}`, "want a name"},
		{"missing colon", `{"a" 1}`, "want :"},
		{"two values", `{"a": 1} {"b": 2}`, "after the value"},
		{"unterminated string", `{"a": "x}`, "unterminated string"},
		{"unterminated comment", `{"a": 1 /* x`, "unterminated comment"},
		{"bad unicode escape", `{"a": "\u12"}`, `\u`},
		{"word stops at a colon", `{"l": [10.0.0.1:80]}`, "want , or ]"},
		{"position", "{\n  \"a\": 1\n  \"b\": 2}", "line 3, column 3"},
		{"too deep", strings.Repeat("[", rcMaxDepth+1) + "1," + strings.Repeat("]", rcMaxDepth+1), "nested more than"},
	}
	for _, tc := range bad {
		t.Run("bad "+tc.name, func(t *testing.T) {
			v, err := rcDecodeJSON([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("rcDecodeJSON(%.80q) = %.80v, %v; want an error mentioning %q", tc.in, v, err, tc.mention)
			}
		})
	}
}

func TestLooksLikeJSONObject(t *testing.T) {
	for in, want := range map[string]bool{
		`{"a": 1}`:           true,
		"// c\n{\"a\": 1}":   true,
		"/* c */ {a: 1}":     true,
		")]}'\n{\"a\": 1}":   true,
		"\uFEFF{}":           true,
		"a=1&b=2":            false,
		"nodeGroupType=%7Bx": false,
		"/* never closed":    false,
		"[1, 2]":             false,
	} {
		if got := looksLikeJSONObject(bytes.TrimSpace([]byte(in))); got != want {
			t.Errorf("looksLikeJSONObject(%q) = %v, want %v", in, got, want)
		}
	}
}
