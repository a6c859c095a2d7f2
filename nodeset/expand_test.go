package nodeset

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	tests := []struct {
		in   string
		want string // space-separated
	}{
		{"web-1", "web-1"},
		{"  web-1  ", "web-1"},
		{"web-[1-3]", "web-1 web-2 web-3"},
		{"web-[01-03].dc1", "web-01.dc1 web-02.dc1 web-03.dc1"},
		{"web-[8-11]", "web-8 web-9 web-10 web-11"},
		{"web-[08-11]", "web-08 web-09 web-10 web-11"},
		{"n[098-101]", "n098 n099 n100 n101"},
		{"n[0-2]", "n0 n1 n2"},
		{"n[007]", "n007"},
		{"n[1-3,7,10-20/4]", "n1 n2 n3 n7 n10 n14 n18"},
		{"n[1-2,01-02]", "n1 n2 n01 n02"},
		{"n[3,1,2]", "n3 n1 n2"},
		{"10.0.[0-1].[1-2]", "10.0.0.1 10.0.0.2 10.0.1.1 10.0.1.2"},
		{"a[1-2]b[1-2]", "a1b1 a1b2 a2b1 a2b2"},
		{"web-[1-2],db-[1-2]", "web-1 web-2 db-1 db-2"},
		{"web-[1-2], db-1", "web-1 web-2 db-1"},
		{"web-[1-3],web-2", "web-1 web-2 web-3"},
		{"n[1-5,3-8]", "n1 n2 n3 n4 n5 n6 n7 n8"},
		{"h[1-2][1-12]", "h11 h12 h13 h14 h15 h16 h17 h18 h19 h110 h111 h112 h21 h22 h23 h24 h25 h26 h27 h28 h29 h210 h211 h212"},
		{"h[1,11][1,11]", "h11 h111 h1111"},
		{"web-[1-10]!web-5", "web-1 web-2 web-3 web-4 web-6 web-7 web-8 web-9 web-10"},
		{"web-[1-5]!web-[2-4]", "web-1 web-5"},
		{"web-[1-5]!web-[2-4],web-3", "web-1 web-3 web-5"},
		{"web-[1-3]!web-9", "web-1 web-2 web-3"},
		{"a,b!a", "b"},
		{"root@web-[1-3]:2222", "root@web-1:2222 root@web-2:2222 root@web-3:2222"},
		{"[::1]:22", "[::1]:22"},
		{"[2001:db8::1]", "[2001:db8::1]"},
		{"[2001:db8::1]:[22-23]", "[2001:db8::1]:22 [2001:db8::1]:23"},
		{"root@[fe80::1%eth0]:22,web-[1-2]", "root@[fe80::1%eth0]:22 web-1 web-2"},
		{"2001:db8::[1-2]", "2001:db8::1 2001:db8::2"},
		{"http://web-[1-2]:8080/x", "http://web-1:8080/x http://web-2:8080/x"},
		{"https://web-[1-2]/a[0]?b=1,2!c", "https://web-1/a[0]?b=1,2!c https://web-2/a[0]?b=1,2!c"},
		{"http://web-[1-10/5]/x", "http://web-1/x http://web-6/x"},
		{"http://[::1]:[80-81]/", "http://[::1]:80/ http://[::1]:81/"},
		{"http://h/x,y", "http://h/x,y"},
	}
	for _, tc := range tests {
		got, err := Expand(tc.in, 1000)
		if err != nil {
			t.Errorf("Expand(%q): %v", tc.in, err)
			continue
		}
		if want := strings.Fields(tc.want); !slices.Equal(got, want) {
			t.Errorf("Expand(%q) = %q, want %q", tc.in, got, want)
		}
	}
}

func TestExpandErrors(t *testing.T) {
	tests := []struct {
		in     string
		limit  int
		msg    string
		offset int
	}{
		{"", 10, "empty nodeset", 0},
		{"   ", 10, "empty nodeset", 0},
		{"web-[1-3", 10, "unclosed '['", 4},
		{"web-1]", 10, "']' without '['", 5},
		{"web-[[1-3]]", 10, "'[' inside brackets", 5},
		{"web-[]", 10, "empty brackets", 4},
		{"web-[5-1]", 10, "reversed range 5-1", 5},
		{"web-[1,,3]", 10, "empty element", 7},
		{"web-[1,]", 10, "empty element", 7},
		{"web-[a-3]", 10, `"a" is not a number`, 5},
		{"web-[1-]", 10, "missing number", 5},
		{"web-[1-3-5]", 10, `"3-5" is not a number`, 5},
		{"web-[01-5]", 10, "padding mismatch in 01-5", 5},
		{"web-[1-05]", 10, "padding mismatch in 1-05", 5},
		{"web-[1-9/0]", 10, "bad step", 5},
		{"web-[5/2]", 10, "a step needs a range", 5},
		{"web-[1234567890123456789]", 10, "longer than 18 digits", 5},
		{"web-1,,web-2", 10, `empty item before ','`, 6},
		{"web-1,", 10, `empty item after ','`, 6},
		{"!web-1", 10, `empty item before '!'`, 0},
		{"x,web-[1-3]!y]", 10, "']' without '['", 13},
		{"web-[1-11]", 10, "more than 10 hosts", 0},
		{"a,b,web-[1-9]", 10, "more than 10 hosts", 4},
		{"web-[1-5]!web-[1-6]", 10, "more than 10 hosts", 10},
		{"10.[0-255].[0-255].[0-255].[0-255]", 1000000, "more than 1000000 hosts", 0},
		{"n[0-999999999999999999]", 1000000, "more than 1000000 hosts", 0},
		{"h[1-2]", 0, "limit 0", 0},
		{"http://web-[1-3/x", 10, "unclosed '['", 11},
	}
	for _, tc := range tests {
		_, err := Expand(tc.in, tc.limit)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Expand(%q): error %v, want an *Error", tc.in, err)
			continue
		}
		if !strings.Contains(e.Msg, tc.msg) || e.Offset != tc.offset {
			t.Errorf("Expand(%q): %q at %d, want %q at %d", tc.in, e.Msg, e.Offset, tc.msg, tc.offset)
		}
		if (strings.HasPrefix(tc.msg, "more than") || strings.HasPrefix(tc.msg, "limit")) != errors.Is(err, ErrLimit) {
			t.Errorf("Expand(%q): errors.Is(ErrLimit) = %v", tc.in, errors.Is(err, ErrLimit))
		}
		if !strings.Contains(err.Error(), "at offset "+strconv.Itoa(tc.offset)) {
			t.Errorf("Expand(%q): %q does not say where", tc.in, err)
		}
	}
}

func TestExpandLimitExact(t *testing.T) {
	got, err := Expand("h[1-10]", 10)
	if err != nil || len(got) != 10 || cap(got) != 10 {
		t.Fatalf("Expand at the limit: %d hosts (cap %d), %v", len(got), cap(got), err)
	}
	// A limit refused before any host is made: this would take hours.
	if _, err := Expand("h[0-999999999999999999],h[1-9]", 1<<30); !errors.Is(err, ErrLimit) {
		t.Fatalf("huge nodeset: %v", err)
	}
}

func TestErrorExcerpt(t *testing.T) {
	long := strings.Repeat("a", 100) + "[5-1]" + strings.Repeat("b", 100)
	_, err := Expand(long, 10)
	if err == nil || len(err.Error()) > 150 || !strings.Contains(err.Error(), "[5-1]") || !strings.Contains(err.Error(), "at offset 101") {
		t.Fatalf("error %q: want a short excerpt around the fault", err)
	}
}

func TestIsNodeset(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"web-1", false},
		{"web-1:80", false},
		{"root@web-1:22", false},
		{"[::1]:22", false},
		{"[2001:db8::1]", false},
		{"2001:db8::1", false},
		{"http://web-1/x?a=1,2!", false},
		{"http://[::1]:80/a[0]", false},
		{"", false},
		{"web-[1-2]", true},
		{"a,b", true},
		{"a!b", true},
		{"web-[1", true},
		{"web]", true},
		{"[::[1]", true},
		{"http://web-[1-2]/", true},
	}
	for _, tc := range tests {
		if got := IsNodeset(tc.in); got != tc.want {
			t.Errorf("IsNodeset(%q) = %v, want %v", tc.in, got, tc.want)
		}
		if !tc.want && tc.in != "" {
			// What is not a nodeset expands to itself.
			if got, err := Expand(tc.in, 1); err != nil || !slices.Equal(got, []string{strings.TrimSpace(tc.in)}) {
				t.Errorf("Expand(%q) = %q, %v, want itself", tc.in, got, err)
			}
		}
	}
}

func TestSetAndExclude(t *testing.T) {
	got, err := Exclude([]string{"web-1", "web-2", "web-3", "db-1", "db-2", "web-5"}, []string{"web-[2-3]", "db-1,web-9"}, 100)
	if err != nil || !slices.Equal(got, []string{"web-1", "db-2", "web-5"}) {
		t.Fatalf("Exclude = %q, %v", got, err)
	}
	s := NewSet(5)
	if err := s.Add("a[1-3]"); err != nil {
		t.Fatal(err)
	}
	if !s.Has("a2") || s.Has("a4") || s.Len() != 3 {
		t.Fatalf("set: a2 %v a4 %v len %d", s.Has("a2"), s.Has("a4"), s.Len())
	}
	err = s.Add("b[1-3]") // 3 more, room for 2
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrLimit) || e.Msg != "more than 5 hosts in all" {
		t.Fatalf("over the set's limit: %v", err)
	}
	if err := s.Add("b[1-2]"); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("c"); !errors.Is(err, ErrLimit) {
		t.Fatalf("full set: %v", err)
	}
	if _, err := Exclude(nil, []string{"x[1-"}, 10); err == nil {
		t.Fatal("bad exclusion accepted")
	}
	var none *Set
	if none.Has("a") || none.Len() != 0 {
		t.Fatal("nil set not empty")
	}
}

// hostAlphabet is what the round trip's hosts are made of: host names,
// addresses, users and ports.
const hostAlphabet = "abz019.-_:@"

// roundTrip checks that Expand(Fold(hosts)) is the set of hosts.
func roundTrip(t *testing.T, hosts []string) {
	t.Helper()
	folded := Fold(hosts)
	if len(hosts) == 0 {
		if folded != "" {
			t.Fatalf("Fold(nil) = %q", folded)
		}
		return
	}
	got, err := Expand(folded, len(hosts))
	if err != nil {
		t.Fatalf("Expand(Fold(%q)) = Expand(%q): %v", hosts, folded, err)
	}
	want := slices.Clone(hosts)
	slices.Sort(want)
	want = slices.Compact(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("Expand(Fold(%q)) = Expand(%q) = %q", hosts, folded, got)
	}
}

func TestRoundTrip(t *testing.T) {
	cases := [][]string{
		nil,
		{"db"},
		{"10.0.0.1", "10.0.0.2", "10.0.0.3", "web-01", "web-02", "web-03", "db"},
		{"web-7", "web-007", "web-07"},
		{"x09", "x10", "x11", "x9"},
		{"x099", "x100", "x5"},
		{"root@web-1:2222", "root@web-2:2222", "admin@web-1:2222"},
		{"10.0.0.1:80", "10.0.0.2:80", "10.0.1.1:81"},
		{"2001:db8::1", "2001:db8::2", "fe80::1a", "fe80::2a"},
		{"[::1]:22", "[::1]:23", "[::2]:22"},
		{"root@[2001:db8::1]:22", "root@[2001:db8::2]:22"},
		{"1", "2", "3", "10"},
		{"a1b2", "a1b3", "a2b2"},
		{"n0", "n00", "n000", "n1", "n01"},
		{"x12345678901234567890", "x12345678901234567891"},
	}
	for _, hosts := range cases {
		roundTrip(t, hosts)
	}
	// Random lists from a small alphabet, so that hosts share parts.
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		hosts := make([]string, r.IntN(20)+1)
		for i := range hosts {
			b := make([]byte, r.IntN(8)+1)
			for j := range b {
				b[j] = hostAlphabet[r.IntN(len(hostAlphabet))]
			}
			hosts[i] = string(b)
		}
		roundTrip(t, hosts)
	}
}

// FuzzNodesetRoundTrip checks Expand(Fold(hosts)) on host lists made from
// the fuzzer's input (hosts separated by spaces, their bytes mapped onto
// hostAlphabet), and that Expand never fails on what Fold writes.
func FuzzNodesetRoundTrip(f *testing.F) {
	f.Add("10.0.0.1 10.0.0.2 web-01 web-02 db")
	f.Add("root@web-1:22 root@web-2:22 n9 n10 n010")
	f.Add("a1b1 a1b2 a2b1 x099 x100")
	f.Fuzz(func(t *testing.T, in string) {
		var hosts []string
		for _, w := range strings.Fields(in) {
			b := []byte(w)
			for i, c := range b {
				if strings.IndexByte(hostAlphabet, c) < 0 {
					b[i] = hostAlphabet[int(c)%len(hostAlphabet)]
				}
			}
			hosts = append(hosts, string(b))
			if len(hosts) == 200 {
				break
			}
		}
		roundTrip(t, hosts)
	})
}

func BenchmarkExpand(b *testing.B) {
	for _, p := range []string{"10.0.[0-255].[1-254]", "web-[1-30000],db-[1-30000]!db-[100-200]"} {
		b.Run(p, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Expand(p, 100000); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
