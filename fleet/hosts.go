package fleet

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
)

const (
	// firstHostIP is host 0's address, 127.1.0.0.
	firstHostIP uint32 = 127<<24 | 1<<16
	// lastHostIP is the last usable address, 127.255.255.254 (the next one
	// is the broadcast address of 127.0.0.0/8).
	lastHostIP uint32 = 127<<24 | 255<<16 | 255<<8 | 254
)

// MaxHosts is the largest fleet: hosts 127.1.0.0 to 127.255.255.254.
const MaxHosts = int(lastHostIP-firstHostIP) + 1

// HostAddr returns host i's IPv4 address: 127.1.0.0 + i (127.1.0.0,
// 127.1.0.1, ... 127.1.255.255, 127.2.0.0, ...). i must be in
// [0, MaxHosts); HostAddr panics otherwise.
func HostAddr(i int) string {
	return string(appendHostIP(make([]byte, 0, 15), i))
}

// appendHostIP appends host i's dotted address to b.
func appendHostIP(b []byte, i int) []byte {
	if i < 0 || i >= MaxHosts {
		panic("fleet: host index " + strconv.Itoa(i) + " out of range")
	}
	ip := firstHostIP + uint32(i)
	b = strconv.AppendUint(b, uint64(ip>>24), 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, uint64(ip>>16&0xff), 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, uint64(ip>>8&0xff), 10)
	b = append(b, '.')
	return strconv.AppendUint(b, uint64(ip&0xff), 10)
}

// HostIndex is the inverse of HostAddr: it takes an IPv4 address, with or
// without a ":port", and returns its host index. It reports false for an
// address outside 127.1.0.0 to 127.255.255.254.
func HostIndex(addr string) (int, bool) {
	if strings.Contains(addr, ":") {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			addr = host
		}
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return 0, false
	}
	ip = ip.Unmap()
	if !ip.Is4() {
		return 0, false
	}
	a := ip.As4()
	return indexOfIP(uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]))
}

// indexOfIP returns the host index of an IPv4 address in host byte order.
func indexOfIP(ip uint32) (int, bool) {
	if ip < firstHostIP || ip > lastHostIP {
		return 0, false
	}
	return int(ip - firstHostIP), true
}

// Target returns host i's target address "HostAddr(i):port".
func Target(i, port int) string {
	b := appendHostIP(make([]byte, 0, 21), i)
	b = append(b, ':')
	return string(strconv.AppendInt(b, int64(port), 10))
}

// Targets returns "HostAddr(i):port" for hosts 0 to n-1.
func Targets(n, port int) []string {
	out := make([]string, n)
	p := strconv.Itoa(port)
	buf := make([]byte, 0, 24)
	for i := range n {
		buf = appendHostIP(buf[:0], i)
		buf = append(buf, ':')
		buf = append(buf, p...)
		out[i] = string(buf)
	}
	return out
}

// Version returns host i's version: "v1" when i%10 is 0 to 4, "v2" for 5 to
// 7 and "v3" for 8 and 9.
func Version(i int) string {
	switch r := i % 10; {
	case r < 5:
		return "v1"
	case r < 8:
		return "v2"
	default:
		return "v3"
	}
}

// Distribution returns how many of hosts 0 to n-1 have each version, which is
// what a fleet of n hosts reports when no errors or other status codes are
// configured.
func Distribution(n int) map[string]int {
	out := make(map[string]int, 3)
	full, rest := n/10, n%10
	out["v1"] = full*5 + min(rest, 5)
	out["v2"] = full*3 + min(max(rest-5, 0), 3)
	out["v3"] = full*2 + max(rest-8, 0)
	for k, v := range out {
		if v == 0 {
			delete(out, k)
		}
	}
	return out
}
