package fleet

import (
	"bufio"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"strconv"
	"strings"
	"time"
)

// Env is what a simulated command sees.
type Env struct {
	// Host is the host the command runs on (the connection's destination).
	Host string
	// User is the login.
	User string
	// Password is what a simulated `sudo -S` expects ("" refuses it).
	Password string
	// Stdin, Stdout and Stderr are the session's streams.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Stop is closed when the command must end (a signal, the session
	// closed, the server stopping); sleep returns 129 (SIGHUP) then.
	Stop <-chan struct{}
}

// RunCommand runs a command line of the SSH fleet's tiny shell and returns
// its exit status. Commands are separated by ";", "&&" or "||"; words are
// split on blanks with '…', "…" and \ quoting; ">&2" (or "1>&2") sends a
// command's output to stderr and "</dev/null" is ignored. Commands:
//
//	echo [-n] ARGS...   the arguments
//	hostname            the host's address (127.x.y.z)
//	whoami              the login
//	uptime              a fixed line derived from the host
//	sleep SECONDS       waits (ends early, status 129, when stopped)
//	exit [N]            ends the command line with status N (default: the last status)
//	true, false         0, 1
//	sh -c STRING        runs STRING
//	exec ...            runs the rest ("exec </dev/null" does nothing)
//	sudo [-n] [-S] [-p PROMPT] [--] CMD...  -S prints PROMPT on stderr, reads
//	                    a line from stdin and runs CMD if it is Env.Password
//
// Anything else prints "sh: NAME: not found" on stderr and returns 127.
func RunCommand(line string, env *Env) int {
	seq, err := parseLine(line)
	if err != nil {
		fmt.Fprintf(env.Stderr, "sh: syntax error: %v\n", err)
		return 2
	}
	status := 0
	for i, c := range seq {
		if i > 0 {
			switch c.op {
			case "&&":
				if status != 0 {
					continue
				}
			case "||":
				if status == 0 {
					continue
				}
			}
		}
		var exit bool
		status, exit = runSimple(c, env, status)
		if exit {
			return status
		}
	}
	return status
}

// simpleCmd is one command of a line, with the operator before it.
type simpleCmd struct {
	op       string // "", ";", "&&" or "||"
	words    []string
	toStderr bool
}

// parseLine splits a command line into simple commands.
func parseLine(line string) ([]simpleCmd, error) {
	var out []simpleCmd
	cur := simpleCmd{}
	var word strings.Builder
	inWord := false
	flush := func() {
		if !inWord {
			return
		}
		w := word.String()
		word.Reset()
		inWord = false
		switch w {
		case ">&2", "1>&2":
			cur.toStderr = true
		case "</dev/null", "<", "2>&1":
		default:
			cur.words = append(cur.words, w)
		}
	}
	end := func(op string) {
		flush()
		if len(cur.words) > 0 {
			out = append(out, cur)
		}
		cur = simpleCmd{op: op}
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			flush()
		case c == ';':
			end(";")
		case c == '&' && i+1 < len(line) && line[i+1] == '&':
			end("&&")
			i++
		case c == '|' && i+1 < len(line) && line[i+1] == '|':
			end("||")
			i++
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated '")
			}
			word.WriteString(line[i+1 : i+1+j])
			inWord = true
			i += j + 1
		case c == '"':
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) && strings.IndexByte(`"\$`, line[i+1]) >= 0 {
					i++
				}
				word.WriteByte(line[i])
			}
			if i >= len(line) {
				return nil, errors.New(`unterminated "`)
			}
			inWord = true
		case c == '\\' && i+1 < len(line):
			word.WriteByte(line[i+1])
			inWord = true
			i++
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	end("")
	return out, nil
}

// runSimple runs one command; exit reports an `exit`.
func runSimple(c simpleCmd, env *Env, last int) (status int, exit bool) {
	w := env.Stdout
	if c.toStderr {
		w = env.Stderr
	}
	args := c.words
	switch args[0] {
	case "echo":
		nl := "\n"
		if len(args) > 1 && args[1] == "-n" {
			nl, args = "", args[1:]
		}
		fmt.Fprint(w, strings.Join(args[1:], " ")+nl)
		return 0, false
	case "hostname":
		fmt.Fprintln(w, env.Host)
		return 0, false
	case "whoami":
		fmt.Fprintln(w, env.User)
		return 0, false
	case "uptime":
		fmt.Fprintln(w, simulatedUptime(env.Host))
		return 0, false
	case "true":
		return 0, false
	case "false":
		return 1, false
	case "exit":
		if len(args) < 2 {
			return last, true
		}
		n, err := strconv.Atoi(args[1])
		if err != nil {
			fmt.Fprintf(env.Stderr, "sh: exit: Illegal number: %s\n", args[1])
			return 2, true
		}
		return n & 0xff, true
	case "sleep":
		if len(args) < 2 {
			fmt.Fprintln(env.Stderr, "sleep: missing operand")
			return 1, false
		}
		sec, err := strconv.ParseFloat(args[1], 64)
		if err != nil || sec < 0 {
			fmt.Fprintf(env.Stderr, "sleep: invalid time interval '%s'\n", args[1])
			return 1, false
		}
		t := time.NewTimer(time.Duration(sec * float64(time.Second)))
		defer t.Stop()
		select {
		case <-t.C:
			return 0, false
		case <-env.Stop:
			return 129, true
		}
	case "sh":
		if len(args) < 3 || args[1] != "-c" {
			fmt.Fprintln(env.Stderr, "sh: only sh -c STRING is simulated")
			return 2, false
		}
		return RunCommand(args[2], env), false
	case "exec":
		if len(args) == 1 {
			return 0, false
		}
		return runSimple(simpleCmd{words: args[1:], toStderr: c.toStderr}, env, last)
	case "sudo":
		return sudo(args[1:], c, env, last)
	}
	fmt.Fprintf(env.Stderr, "sh: 1: %s: not found\n", args[0])
	return 127, false
}

// sudo simulates sudo's -n, -S and -p options.
func sudo(args []string, c simpleCmd, env *Env, last int) (int, bool) {
	prompt, readPass, nonInteractive := "[sudo] password: ", false, false
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "-S":
			readPass = true
		case "-n":
			nonInteractive = true
		case "-p":
			if len(args) < 2 {
				fmt.Fprintln(env.Stderr, "sudo: option requires an argument -- 'p'")
				return 1, false
			}
			prompt, args = args[1], args[1:]
		case "--":
			args = args[1:]
			goto run
		default:
			fmt.Fprintf(env.Stderr, "sudo: unknown option %s\n", args[0])
			return 1, false
		}
		args = args[1:]
	}
run:
	if len(args) == 0 {
		fmt.Fprintln(env.Stderr, "usage: sudo command")
		return 1, false
	}
	switch {
	case nonInteractive:
		fmt.Fprintln(env.Stderr, "sudo: a password is required")
		return 1, false
	case !readPass:
		fmt.Fprintln(env.Stderr, "sudo: a terminal is required to read the password")
		return 1, false
	}
	fmt.Fprint(env.Stderr, prompt)
	line, err := bufio.NewReader(env.Stdin).ReadString('\n')
	if err != nil || env.Password == "" || strings.TrimSuffix(line, "\n") != env.Password {
		fmt.Fprintln(env.Stderr, "sudo: 1 incorrect password attempt")
		return 1, false
	}
	return runSimple(simpleCmd{words: args, toStderr: c.toStderr}, env, last)
}

// simulatedUptime is a deterministic uptime line for host.
func simulatedUptime(host string) string {
	h := fnv.New32a()
	h.Write([]byte(host))
	v := h.Sum32()
	days := v % 400
	load := float64(v>>9%400) / 100
	return fmt.Sprintf(" 12:00:00 up %d days,  3:04,  1 user,  load average: %.2f, %.2f, %.2f", days, load, load, load)
}
