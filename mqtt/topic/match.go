package topic

import "strings"

// Match reports whether the topic name matches the plain (non-shared) topic
// filter, following MQTT 3.1.1 and 5.0 section 4.7:
//
//   - "+" matches exactly one level, which may be empty ("sport/+" matches
//     "sport/" but not "sport" or "sport/a/b");
//   - "#" matches its own level and every level below, including the parent
//     level itself ("sport/#" matches "sport");
//   - a name whose first level begins with '$' (such as "$SYS/monitor") is
//     not matched by a filter whose first level is "+" or "#".
//
// Both arguments should be valid (see ValidateFilter and ValidateName); for
// invalid input the result is unspecified but Match never panics. A
// "$share/{group}/{filter}" filter is compared literally: strip it with
// SplitShare first. Match does not allocate.
func Match(filter, name string) bool {
	if isDollar(name) && filter != "" && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		flvl, frest, fmore := cutLevel(filter)
		if flvl == "#" {
			return !fmore
		}
		nlvl, nrest, nmore := cutLevel(name)
		if flvl != "+" && flvl != nlvl {
			return false
		}
		switch {
		case fmore && nmore:
			filter, name = frest, nrest
		case !fmore && !nmore:
			return true
		case fmore:
			// Name exhausted: only a trailing "#" (parent-level match) remains.
			return frest == "#"
		default:
			return false
		}
	}
}

// cutLevel splits s at its first '/': the first level, the rest after the
// separator, and whether there was a separator (so more levels follow, even
// if the rest is empty).
func cutLevel(s string) (level, rest string, more bool) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

// isDollar reports whether a topic name is a '$' topic, which leading
// wildcards do not match.
func isDollar(name string) bool {
	return name != "" && name[0] == '$'
}
