// Command timeit runs several commands in turns (A B A B …) and prints, per command, the
// median, minimum and maximum wall time in nanoseconds, one line each:
//
//	timeit -rounds 5 -- cmdA args… -- cmdB args…
//	→ A <median> <min> <max>
//
// Commands are executed directly, not through a shell, so the figures hold the
// command's own start-up and nothing of the harness. A command that fails stops the run.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"time"
)

func main() {
	rounds := 5
	args := os.Args[1:]
	if len(args) >= 2 && args[0] == "-rounds" {
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 1 {
			fmt.Fprintln(os.Stderr, "timeit: -rounds takes a positive number")
			os.Exit(2)
		}
		rounds, args = n, args[2:]
	}
	var cmds [][]string
	for _, a := range args {
		if a == "--" {
			cmds = append(cmds, nil)
			continue
		}
		if len(cmds) == 0 {
			fmt.Fprintln(os.Stderr, "timeit: usage: timeit [-rounds N] -- cmd args… [-- cmd args…]")
			os.Exit(2)
		}
		cmds[len(cmds)-1] = append(cmds[len(cmds)-1], a)
	}
	times := make([][]time.Duration, len(cmds))
	for r := 0; r < rounds; r++ {
		for i, c := range cmds {
			cmd := exec.Command(c[0], c[1:]...)
			cmd.Stdout, cmd.Stderr = nil, os.Stderr
			start := time.Now()
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(os.Stderr, "timeit: %v: %v\n", c, err)
				os.Exit(1)
			}
			times[i] = append(times[i], time.Since(start))
		}
	}
	for i, t := range times {
		slices.Sort(t)
		med := t[len(t)/2]
		if len(t)%2 == 0 {
			med = (t[len(t)/2-1] + t[len(t)/2]) / 2
		}
		fmt.Printf("%d %d %d %d\n", i, med.Nanoseconds(), t[0].Nanoseconds(), t[len(t)-1].Nanoseconds())
	}
}
