package config

// Storage configures the embedded store that keeps persistent sessions,
// their queued and in-flight messages, and the retained messages across
// restarts (docs/persistence.md).
type Storage struct {
	// Enabled keeps that state in the store; false keeps it in memory only.
	Enabled bool `yaml:"enabled"`
	// Dir is the store directory ("": <data_dir>/store).
	Dir string `yaml:"dir"`
	// Durability is fsync (an acknowledged QoS 1/2 message survives a
	// power loss) or os (it survives a crash of the hub process only).
	Durability string `yaml:"durability"`
}

// defaultStorage is the storage section when nothing is configured: on,
// in data_dir/store, fsync.
func defaultStorage() Storage { return Storage{Enabled: true, Durability: "fsync"} }

func (s *Storage) validate(v *checker) {
	v.oneOf("storage.durability", s.Durability, "fsync", "os")
}
