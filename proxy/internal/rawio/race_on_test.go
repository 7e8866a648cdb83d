//go:build race

package rawio

// raceEnabled: built with -race, which shuffles the scheduler's order on purpose.
const raceEnabled = true
