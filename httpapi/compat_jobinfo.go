package httpapi

import (
	"context"
	"math"
	"time"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/store"
)

// rcTimeStamp is the layout of rcJobInfo.TimeStamp (UTC).
const rcTimeStamp = "2006-01-02 15:04:05"

// rcJobInfo is REST Commander's JobInfo, the answer of
// /distributedAgents/queryJobInfo. Times are epoch milliseconds (0 until
// they happen) and AggregationTime is in seconds; the maps are keyed by
// worker node name.
type rcJobInfo struct {
	// TimeStamp is when the job was submitted.
	TimeStamp string `json:"timeStamp"`
	StartTime int64  `json:"startTime"`
	// FinishedNotAggregatedTime is when the last answer arrived.
	FinishedNotAggregatedTime int64 `json:"finishedNotAggregatedTime"`
	EndTime                   int64 `json:"endTime"`
	// AggregationTime is EndTime - FinishedNotAggregatedTime.
	AggregationTime     float64          `json:"aggregationTime"`
	TotJobNum           int              `json:"totJobNum"`
	WorkerRequestCount  map[string]int64 `json:"workerRequestCount"`
	WorkerResponseCount map[string]int64 `json:"workerResponseCount"`
	// CapacityUsage is, per worker, the share of maxConcNum the job uses
	// there now (the adaptive throttle's concurrency ÷ maxConcNum); 0 once
	// the job has ended.
	CapacityUsage map[string]float64 `json:"capacityUsage"`
	// State is waiting, processing, finishedNotGathered or gathered (and
	// salvo's cancelled or failed; a job being cancelled reads cancelled).
	State            string `json:"state"`
	CollectedNum     int    `json:"collectedNum"`
	MaxConcNum       int    `json:"maxConcNum"`
	JobID            string `json:"jobId"`
	NodeGroupType    string `json:"nodeGroupType"`
	AgentCommandType string `json:"agentCommandType"`
}

// rcState is the state a REST Commander client reads: salvo's transient
// cancelling (a cancel asked, the last results on their way) is cancelled,
// the cancel the client asked for.
func rcState(s string) string {
	if s == actors.StateCancelling {
		return store.JobCancelled
	}
	return s
}

func epochMs(t *time.Time) int64 {
	if t == nil || t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// rcJobInfo builds a job's JobInfo from its live status while it runs,
// and from the store once it has ended.
func (s *Server) rcJobInfo(ctx context.Context, j *store.Job) (*rcJobInfo, error) {
	st := s.engine.StatusOf(ctx, j)
	info := &rcJobInfo{
		TimeStamp:           j.CreatedAt.UTC().Format(rcTimeStamp),
		StartTime:           epochMs(st.StartedAt),
		EndTime:             epochMs(st.FinishedAt),
		TotJobNum:           st.Total,
		WorkerRequestCount:  map[string]int64{},
		WorkerResponseCount: map[string]int64{},
		CapacityUsage:       map[string]float64{},
		State:               rcState(st.State),
		CollectedNum:        st.Done,
		MaxConcNum:          st.MaxConcurrency,
		JobID:               j.ID,
	}
	if j.Spec != nil && j.Spec.Origin != nil {
		info.NodeGroupType, info.AgentCommandType = j.Spec.Origin.NodeGroup, j.Spec.Origin.Command
	}
	live := !st.Terminal() && len(st.Workers) > 0
	for name, w := range st.Workers {
		info.WorkerRequestCount[name] = w.Requests
		info.WorkerResponseCount[name] = w.Responses
		if st.MaxConcurrency > 0 && !st.Terminal() {
			info.CapacityUsage[name] = math.Round(1000*float64(w.Concurrency)/float64(st.MaxConcurrency)) / 1000
		}
	}
	if st.State == store.JobWaiting || st.State == store.JobProcessing {
		return info, nil
	}
	sum, err := s.st.ResultSummary(ctx, j.ID)
	if err != nil {
		return nil, err
	}
	if !live {
		for name, n := range sum.ByWorker {
			if name == "" {
				continue
			}
			info.WorkerRequestCount[name] = int64(n)
			info.WorkerResponseCount[name] = int64(n)
			info.CapacityUsage[name] = 0
		}
	}
	info.FinishedNotAggregatedTime = epochMs(&sum.LastAnswer)
	if f := info.FinishedNotAggregatedTime; f > 0 && info.EndTime >= f {
		info.AggregationTime = float64(info.EndTime-f) / 1000
	}
	return info, nil
}
