package job

// Node defaults that several packages need: the config's DefaultConfig,
// the engine, the worker, the store and the cluster's node metadata all
// read them from here, so that each is written once.
const (
	// DefaultCapacity is a worker's capacity in concurrent requests over
	// all its jobs.
	DefaultCapacity = 2500
	// DefaultChunkSize is the number of targets per stored chunk, which is
	// also a lease's size.
	DefaultChunkSize = 1000
	// DefaultMaxTargets is the most targets a job may have once its
	// nodesets are expanded (conf's --max-targets): a bound on what a
	// short spec can make a node hold and store.
	DefaultMaxTargets = 1_000_000
)
