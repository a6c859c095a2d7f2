package conf

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// Bounds of the automatic body memory.
const (
	autoBodyMemoryMin = 256 << 20
	autoBodyMemoryMax = 4 << 30
)

// BodyMemoryBytes returns the body memory to run with: BodyMemory when
// set, else an eighth of the machine's memory (MemTotal of /proc/meminfo)
// between 256 MiB and 4 GiB, and 1 GiB when the machine's memory is
// unknown.
func (c *Config) BodyMemoryBytes() int64 {
	if c.BodyMemory > 0 {
		return c.BodyMemory
	}
	total, ok := MemTotal()
	if !ok {
		return 1 << 30
	}
	return min(max(total/8, autoBodyMemoryMin), autoBodyMemoryMax)
}

// MemTotal returns the machine's memory (MemTotal of /proc/meminfo) in
// bytes; ok is false when it cannot be read.
func MemTotal() (total int64, ok bool) { return memTotal("/proc/meminfo") }

// memTotal reads MemTotal from a meminfo file, in bytes.
func memTotal(path string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, found := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !found {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, false
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		return kb << 10, err == nil && kb > 0
	}
	return 0, false
}
