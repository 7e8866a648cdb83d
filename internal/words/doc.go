// Package words is how every keybridge program and library says numbers and
// time left to people: "1 listener" and "2 listeners", "expired 699 days ago".
// One place, so that no message says "1 entries" or "(-699 days)".
package words
