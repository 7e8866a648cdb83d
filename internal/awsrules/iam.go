package awsrules

import "regexp"

// MaxIAMPathLen is the longest IAM path.
const MaxIAMPathLen = 512

// iamPathRE is the IAM API reference's pattern for Path:
// (\u002F)|(\u002F[\u0021-\u007F]+\u002F).
var iamPathRE = regexp.MustCompile(`^(/|/[\x21-\x7F]+/)$`)

// ValidIAMPath reports whether IAM takes path: "/" or "/…/" of characters
// \u0021 to \u007F, at most MaxIAMPathLen in all (else IAM answers
// ValidationError, HTTP 400).
func ValidIAMPath(path string) bool {
	return len(path) <= MaxIAMPathLen && iamPathRE.MatchString(path)
}
