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

// FixedLevels counts the levels of filter before its first wildcard (a
// $share/<group>/ prefix excluded): the part every matching topic shares.
func FixedLevels(filter string) int {
	if rest, ok := strings.CutPrefix(filter, "$share/"); ok {
		if _, f, ok := strings.Cut(rest, "/"); ok {
			filter = f
		}
	}
	n := 0
	for _, lv := range strings.Split(filter, "/") {
		if lv == "+" || lv == "#" {
			break
		}
		n++
	}
	return n
}

// DropLevels returns name without its first n levels ("" when it has no
// more): the part a filter's wildcards matched, with FixedLevels.
func DropLevels(name string, n int) string {
	for ; n > 0; n-- {
		i := strings.IndexByte(name, '/')
		if i < 0 {
			return ""
		}
		name = name[i+1:]
	}
	return name
}
