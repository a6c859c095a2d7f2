package actors

import "sync"

// JobEnds tells waiters when a job's terminal state has been stored. The
// master's store writer calls Ended after it writes a terminal state;
// Engine.Wait watches it. It is safe for concurrent use; the zero value is
// not: use NewJobEnds.
type JobEnds struct {
	mu    sync.Mutex
	waits map[string]*endWait
}

type endWait struct {
	ch      chan struct{}
	waiters int
}

// NewJobEnds returns an empty JobEnds.
func NewJobEnds() *JobEnds {
	return &JobEnds{waits: make(map[string]*endWait)}
}

// Watch returns a channel closed once Ended(id) is called, and a function
// that drops the watch; call it when done waiting. Check the job's stored
// state after Watch: an end stored before Watch closes nothing.
func (j *JobEnds) Watch(id string) (<-chan struct{}, func()) {
	j.mu.Lock()
	defer j.mu.Unlock()
	w := j.waits[id]
	if w == nil {
		w = &endWait{ch: make(chan struct{})}
		j.waits[id] = w
	}
	w.waiters++
	var once sync.Once
	return w.ch, func() {
		once.Do(func() {
			j.mu.Lock()
			defer j.mu.Unlock()
			w.waiters--
			if w.waiters == 0 && j.waits[id] == w {
				delete(j.waits, id)
			}
		})
	}
}

// Ended wakes the watchers of job id.
func (j *JobEnds) Ended(id string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if w := j.waits[id]; w != nil {
		close(w.ch)
		delete(j.waits, id)
	}
}

// watched returns the number of jobs being watched (for tests).
func (j *JobEnds) watched() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.waits)
}
