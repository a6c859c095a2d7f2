package actors

import (
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/salvo-sh/salvo/actors/wire"
	"github.com/salvo-sh/salvo/job"
)

func TestResultSurvivesTheWire(t *testing.T) {
	exit := 3
	now := time.Now().UTC()
	cases := []job.Result{
		{Index: 7, Host: "10.0.0.1", Target: "http://10.0.0.1:80/", State: "ok", StatusCode: 200, LatencyMs: 1.5,
			Body: "bin\xff\x00ary", BodyBytes: 9, Attempts: 1, Worker: "w1", Value: "v1", StartedAt: now, FinishedAt: now.Add(time.Millisecond)},
		{Index: 8, Host: "h", State: "failed", ExitCode: &exit, Stderr: "boom", ErrorClass: "", Value: "3"},
		{Index: 9, Host: "h", State: "error", Error: "refused", ErrorClass: "connect_refused", Value: "connect_refused"},
	}
	for _, r := range cases {
		b, err := proto.Marshal(&wire.ResultBatch{Results: []*wire.Result{toWireResult(&r)}})
		if err != nil {
			t.Fatalf("marshal %+v: %v", r, err)
		}
		var back wire.ResultBatch
		if err := proto.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if got := fromWireResult(back.Results[0]); !reflect.DeepEqual(got, r) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, r)
		}
	}
}
