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
)
