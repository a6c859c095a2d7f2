// Package actors holds salvo's proto.actor actors: the Master (queue,
// scheduler, capacity accounting, leases, gathering) and the Worker (runs
// leased chunks of targets through package commands and streams results
// back in acknowledged batches), and the Engine that starts them.
//
// The messages between master and workers are the protobuf types of
// package wire (the lease and batch protocol of docs/design.md §5): proto.actor
// remote carries only protobuf messages, and the same types travel
// in-process, so a worker on another node is no different from a local one.
package actors

import "github.com/salvo-sh/salvo/actors/wire"

// The lease/batch protocol's messages.
type (
	// RegisterWorker announces a worker to the master (worker → master).
	RegisterWorker = wire.RegisterWorker
	// JobStart tells a worker to run a job (master → worker).
	JobStart = wire.JobStart
	// LeaseRequest asks the master for targets (worker → master, answered by LeaseGrant).
	LeaseRequest = wire.LeaseRequest
	// LeaseGrant leases targets to a worker (master → worker).
	LeaseGrant = wire.LeaseGrant
	// ResultBatch carries results of one lease (worker → master).
	ResultBatch = wire.ResultBatch
	// BatchAck acknowledges a committed batch (master → worker).
	BatchAck = wire.BatchAck
	// LeaseDone says every result of a lease was sent (worker → master).
	LeaseDone = wire.LeaseDone
	// JobCancel stops a job on a worker (answered by JobCancelled).
	JobCancel = wire.JobCancel
	// JobCancelled acknowledges JobCancel.
	JobCancelled = wire.JobCancelled
	// JobStop stops a stale part of a job on a worker (master → worker).
	JobStop = wire.JobStop
	// JobWorkerDone says a worker finished its part of a job (worker → master).
	JobWorkerDone = wire.JobWorkerDone
	// WorkerLoad reports a worker's live load (worker → master).
	WorkerLoad = wire.WorkerLoad
	// JobLoad is one job's live figures on one worker.
	JobLoad = wire.JobLoad
	// WorkerLeaving says a worker is about to stop (answered by LeavingAck).
	WorkerLeaving = wire.WorkerLeaving
	// LeavingAck answers WorkerLeaving.
	LeavingAck = wire.LeavingAck
)
