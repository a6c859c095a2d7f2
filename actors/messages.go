// Package actors holds salvo's proto.actor actors: the Master (queue,
// scheduler, capacity accounting, leases, gathering) and the Worker (runs
// leased chunks of targets through package commands and streams results
// back in acknowledged batches), and the Engine that starts them in one
// process.
//
// The messages in this file are the lease/batch protocol of DESIGN.md §2.5.
// They travel in-process today; the cluster turns them into protobuf
// messages with the same fields.
package actors

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/salvo-sh/salvo/commands"
)

// RegisterWorker announces a worker to the master (worker → master).
type RegisterWorker struct {
	Name     string
	PID      *actor.PID
	Capacity int
}

// JobStart tells a worker to run a job (master → worker), once per job per
// worker. The spec is normalized and still holds its secrets.
type JobStart struct {
	JobID string
	Spec  *commands.Spec
	// Master is where LeaseRequests and ResultBatches go.
	Master *actor.PID
}

// LeaseRequest asks the master for the next chunk of a job's targets
// (worker → master, request/response). The master answers with a LeaseGrant.
type LeaseRequest struct {
	JobID  string
	Worker string
	Want   int
}

// LeaseGrant leases a chunk of targets to a worker (master → worker). An
// empty grant with Last set means the job has no more targets to lease.
type LeaseGrant struct {
	JobID   string
	LeaseID int64
	Targets []commands.IndexedTarget
	Last    bool
}

// ResultBatch carries results of one lease (worker → master).
type ResultBatch struct {
	JobID   string
	Worker  string
	LeaseID int64
	Seq     int64
	Results []commands.Result
	// From is the worker to acknowledge.
	From *actor.PID
}

// BatchAck acknowledges a batch once it is committed to the store
// (master → worker).
type BatchAck struct {
	JobID   string
	LeaseID int64
	Seq     int64
}

// LeaseDone tells the master that every result of a lease has been sent
// (worker → master).
type LeaseDone struct {
	JobID   string
	Worker  string
	LeaseID int64
}

// JobCancel stops a job on a worker: no request starts after the worker
// answers with JobCancelled (master or engine → worker, request/response).
type JobCancel struct {
	JobID string
}

// JobCancelled acknowledges a JobCancel.
type JobCancelled struct {
	JobID string
}

// JobWorkerDone tells the master that a worker has finished its part of a
// job: its runner stopped and every batch it sent was acknowledged or
// abandoned (worker → master).
type JobWorkerDone struct {
	JobID  string
	Worker string
}

// WorkerLoad reports a worker's live load (worker → master), now and then.
type WorkerLoad struct {
	Worker      string
	Capacity    int
	Reserved    int
	InFlight    int
	RunningJobs int
	Jobs        map[string]JobLoad
}

// JobLoad is one job's live figures on one worker.
type JobLoad struct {
	Started     int64
	InFlight    int
	Concurrency int
}
