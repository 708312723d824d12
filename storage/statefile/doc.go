// Package statefile keeps iothub's small state files — API keys, users,
// rules, bans, bridges: the things an operator changes through the API and
// expects to find again after a restart.
//
// Every such file has one shape, a JSON object holding a format version and
// one list under a name:
//
//	{"version": 1, "rules": [ ... ]}
//
// Load and Decode refuse a file whose version is not the one the caller
// reads (a file with no "version" is version 0, unless the caller accepts
// unversioned files from before versions existed) and a file with keys
// other than those two, naming the problem; a missing file is an empty list. Save replaces the file
// atomically and durably (WriteAtomic): a crash leaves the old or the new
// content, never a mix, and the file is readable by its owner only (mode
// 0600), since these files hold password hashes and security policy.
//
// The functions are safe for concurrent use on different files; callers
// serialise writes to one file.
package statefile
