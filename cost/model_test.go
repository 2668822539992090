package cost

import (
	"math"
	"testing"
)

// TestPriceByHand checks the model against a month worked out on paper.
func TestPriceByHand(t *testing.T) {
	p := Prices{
		RequestPerMillion: 1, RequestIncrement: 512 << 10, ProcessedPerGB: 0.5,
		VCPUHour: 3.6, TransferOutPerGB: 0.1, StoreWritePer1000: 0.005, StoreReadPer1000: 0.0004,
		StorageGBMonth: 0.02, STSPerCall: 0.001,
	}
	s := Scenario{UploadsPerDay: 1000, AvgSize: 1 << 20, UploadsPerSession: 4, Days: 30}
	// 30,000 uploads of 1 MiB.
	proxy := Counts{Path: PathProxy, Size: 2 << 20, SluiceRequests: 1, UploadBytes: 2 << 20, BytesIn: 2 << 20,
		BytesOut: 1024, Store: map[string]float64{"PutObject": 1}}
	e := Price(proxy, 0.01, s, p)
	// Requests: max(1, 1-1+ceil(1 MiB / 512 KiB)) = 2 billed per upload.
	want := map[string][2]float64{
		"billed requests": {e.BilledRequests, 60000},
		"front door":      {e.FrontDoor, 60000*1e-6 + 30000*float64(1<<20+1024)/(1<<30)*0.5},
		"compute":         {e.Compute, 30000 * 0.01 / 3600 * 3.6}, // 0.30
		"transfer out":    {e.TransferOut, 30000 * 1024.0 / (1 << 30) * 0.1},
		"store":           {e.StoreRequests, 30000 * 0.005 / 1000}, // 0.15
		"storage":         {e.Storage, 30000.0 / 1024 * 0.02},      // 29.296875 GiB
	}
	for name, v := range want {
		if math.Abs(v[0]-v[1]) > 1e-9 {
			t.Errorf("proxy %s = %v, want %v", name, v[0], v[1])
		}
	}
	// Option 4: no request per upload; one session (2 requests, one STS
	// call, 0.02 CPU s) per 4 uploads: 7,500 sessions.
	sts := Counts{Path: PathSTS, Size: 1 << 20, SessionRequests: 2, SessionCPUSeconds: 0.02,
		Store: map[string]float64{"PutObject": 1}}
	e = Price(sts, 0, s, p)
	if e.BilledRequests != 15000 || math.Abs(e.STS-7.5) > 1e-9 || math.Abs(e.Compute-7500*0.02/3600*3.6) > 1e-9 {
		t.Errorf("sts: %v billed requests, STS %v, compute %v; want 15000, 7.5, 0.15", e.BilledRequests, e.STS, e.Compute)
	}
	// Option 2: HEAD and ranged GET are the read-back; deletes are free.
	put := Counts{Path: PathPUT, Size: 1 << 20, SluiceRequests: 2, BytesIn: 200, BytesOut: 800,
		Store: map[string]float64{"PutObject": 1, "HeadObject": 1, "GetObjectRange": 1, "DeleteObject": 1}}
	e = Price(put, 0, s, p)
	if e.BilledRequests != 60000 || math.Abs(e.StoreRequests-(0.15+60000*0.0004/1000)) > 1e-9 || math.Abs(e.Safety-0.024) > 1e-9 {
		t.Errorf("put: %v billed, store %v, safety %v; want 60000, 0.174, 0.024", e.BilledRequests, e.StoreRequests, e.Safety)
	}
	if e.TooLarge {
		t.Error("put flagged too large")
	}
	if e := Price(proxy, 0, Scenario{UploadsPerDay: 1, AvgSize: 64 << 20}, Prices{MaxRequestBytes: 10 << 20}); !e.TooLarge {
		t.Error("a 64 MiB proxy upload fits a 10 MiB front door")
	}
}

// TestSluiceCPU: the store's share (option 4's CPU at the same size) is
// taken off the presigned paths, not off option 1.
func TestSluiceCPU(t *testing.T) {
	tb := &Table{Rows: []Counts{
		{Path: PathSTS, Size: 100, CPUSeconds: 0.004},
		{Path: PathPUT, Size: 100, CPUSeconds: 0.010},
		{Path: PathPOST, Size: 100, CPUSeconds: 0.020},
		{Path: PathProxy, Size: 100, CPUSeconds: 0.008},
	}}
	for path, want := range map[string]float64{PathSTS: 0, PathPUT: 0.006, PathPOST: 0.006, PathProxy: 0.008} {
		r, _ := tb.Row(path, 100)
		if got := tb.SluiceCPU(r); math.Abs(got-want) > 1e-12 {
			t.Errorf("%s: %v, want %v", path, got, want)
		}
	}
}

func TestShippedTableCoversEveryPath(t *testing.T) {
	tb, err := Measured()
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{100 << 10, 2 << 20, 64 << 20} {
		for _, path := range Paths {
			if r, ok := tb.Row(path, size); !ok || r.Size != size {
				t.Errorf("measured.json lacks %s at %d bytes", path, size)
			}
		}
	}
}
