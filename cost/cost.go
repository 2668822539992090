// Package cost is sluice's cost model: what one upload costs, by the way
// its bytes travel, in requests to sluice, bytes through sluice, storage
// API calls and server CPU (measured by the harness in this package's
// tests and shipped as measured.json), priced with a table of list prices
// that a deployment can override. `sluice cost` prints it; docs/COST.md
// explains it.
package cost

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"

	"gopkg.in/yaml.v3"
)

// Paths, the ways an upload's bytes can travel (the seed's options).
const (
	PathProxy = "proxy" // option 1: POST /v1/files, the bytes through sluice
	PathTus   = "tus"   // option 1, resumable: tus at /v1/tus/
	PathPUT   = "put"   // option 2: presigned PUT, then complete
	PathPOST  = "post"  // option 2: presigned POST (form), then complete
	PathSTS   = "sts"   // option 4: STS once per session, then signed PUTs
)

// Paths lists them in the order tables show them.
var Paths = []string{PathProxy, PathTus, PathPUT, PathPOST, PathSTS}

// Counts is what one upload of Size bytes by Path cost, measured: per
// upload averages over Uploads uploads.
type Counts struct {
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	Uploads int    `json:"uploads"`
	// SluiceRequests are HTTP requests to sluice's API per upload.
	SluiceRequests float64 `json:"sluice_requests"`
	// SessionRequests are requests to sluice once per client session, not
	// per upload (option 4: discovery and the STS call, which buy up to
	// an hour of uploads).
	SessionRequests float64 `json:"session_requests,omitempty"`
	// UploadBytes are the file's bytes that passed through sluice
	// (sluice_proxied_bytes_total): the size for option 1, else 0.
	UploadBytes float64 `json:"upload_bytes"`
	// BytesIn and BytesOut are HTTP body bytes to and from sluice per
	// upload (uploads, JSON, answers).
	BytesIn  float64 `json:"bytes_in"`
	BytesOut float64 `json:"bytes_out"`
	// Store counts storage API calls per upload by S3 operation
	// (sluice_store_requests_total: PutObject, HeadObject,
	// GetObjectRange, CreateMultipartUpload, UploadPart, ...), whoever
	// made them: the client, or sluice itself.
	Store map[string]float64 `json:"store"`
	// CPUSeconds is the server process's CPU (user+system) per upload:
	// sluice and its embedded store, which share the process.
	CPUSeconds float64 `json:"cpu_seconds"`
	// SessionCPUSeconds is the server's CPU per session (option 4's STS
	// call).
	SessionCPUSeconds float64 `json:"session_cpu_seconds,omitempty"`
	// WallSeconds is the time one upload took, end to end as the client
	// saw it, on loopback.
	WallSeconds float64 `json:"wall_seconds"`
}

// Table is the measured counts, with how they were measured.
type Table struct {
	Command string   `json:"command"`
	Machine string   `json:"machine"`
	Rows    []Counts `json:"rows"`
}

//go:embed measured.json
var measuredJSON []byte

// Measured returns the table shipped with this build (measured.json).
func Measured() (*Table, error) {
	var t Table
	if err := json.Unmarshal(measuredJSON, &t); err != nil {
		return nil, fmt.Errorf("cost: measured.json: %w", err)
	}
	return &t, nil
}

// Row returns the row of path measured at the size nearest to size (on a
// log scale), and false if path has none.
func (t *Table) Row(path string, size int64) (Counts, bool) {
	var best Counts
	found, dist := false, math.Inf(1)
	for _, r := range t.Rows {
		if r.Path != path {
			continue
		}
		d := math.Abs(math.Log(float64(max(r.Size, 1))) - math.Log(float64(max(size, 1))))
		if d < dist {
			best, found, dist = r, true, d
		}
	}
	return best, found
}

// Sizes returns the sizes measured, ascending.
func (t *Table) Sizes() []int64 {
	seen := map[int64]bool{}
	var out []int64
	for _, r := range t.Rows {
		if !seen[r.Size] {
			seen[r.Size] = true
			out = append(out, r.Size)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Prices are list prices in USD. The defaults (DefaultPrices) are AWS
// us-east-1 on-demand, with sources and dates in docs/COST.md; a file
// (YAML or JSON, same field names) overrides any of them.
type Prices struct {
	// Name says what the table prices (shown in the output).
	Name string `yaml:"name" json:"name"`
	// RequestPerMillion is the front door's price per million requests
	// to sluice (API Gateway HTTP API: 1.00; ALB: 0, see LBPerGB).
	RequestPerMillion float64 `yaml:"request_per_million" json:"request_per_million"`
	// RequestIncrement, when not 0, meters a request's body in increments
	// of this many bytes, each billed as a request (HTTP API: 512 KB).
	RequestIncrement int64 `yaml:"request_increment" json:"request_increment"`
	// MaxRequestBytes, when not 0, is the largest body the front door
	// takes (HTTP API: 10 MB); a bigger upload through sluice cannot use it.
	MaxRequestBytes int64 `yaml:"max_request_bytes" json:"max_request_bytes"`
	// ProcessedPerGB is the front door's price per GB it carries, both
	// ways (ALB: one LCU-hour per GB at most, 0.008).
	ProcessedPerGB float64 `yaml:"processed_per_gb" json:"processed_per_gb"`
	// FixedPerMonth is what the front door and the smallest always-on
	// compute cost whatever the traffic (ALB hours, one task). Not part of
	// the per-upload figures.
	FixedPerMonth float64 `yaml:"fixed_per_month" json:"fixed_per_month"`
	// VCPUHour prices the server's CPU time (Fargate: 0.04048 per
	// vCPU-hour), charged for the CPU seconds measured, as if the
	// servers were exactly as busy as needed.
	VCPUHour float64 `yaml:"vcpu_hour" json:"vcpu_hour"`
	// TransferOutPerGB is data transfer out to the internet (sluice's
	// answers); transfer in is free on AWS.
	TransferOutPerGB float64 `yaml:"transfer_out_per_gb" json:"transfer_out_per_gb"`
	TransferInPerGB  float64 `yaml:"transfer_in_per_gb" json:"transfer_in_per_gb"`
	// StoreWritePer1000 prices PUT, COPY, POST, LIST and the multipart
	// calls; StoreReadPer1000 GET, HEAD and all other requests. DELETE
	// and abort are free.
	StoreWritePer1000 float64 `yaml:"store_write_per_1000" json:"store_write_per_1000"`
	StoreReadPer1000  float64 `yaml:"store_read_per_1000" json:"store_read_per_1000"`
	// StorageGBMonth is one GB stored for a month.
	StorageGBMonth float64 `yaml:"storage_gb_month" json:"storage_gb_month"`
	// STSPerCall is the price of one STS call (AWS: free).
	STSPerCall float64 `yaml:"sts_per_call" json:"sts_per_call"`
}

// DefaultPrices is AWS us-east-1: API Gateway HTTP API in front, Fargate
// (Linux/x86) compute, S3 Standard. docs/COST.md cites each.
func DefaultPrices() Prices {
	return Prices{
		Name:              "AWS us-east-1: API Gateway HTTP API, Fargate x86, S3 Standard",
		RequestPerMillion: 1.00, RequestIncrement: 512 << 10, MaxRequestBytes: 10 << 20,
		VCPUHour:          0.04048,
		TransferOutPerGB:  0.09,
		StoreWritePer1000: 0.005, StoreReadPer1000: 0.0004,
		StorageGBMonth: 0.023,
	}
}

// LoadPrices reads a price file over the defaults: fields it leaves out
// keep their default.
func LoadPrices(path string) (Prices, error) {
	p := DefaultPrices()
	b, err := os.ReadFile(path)
	if err != nil {
		return p, err
	}
	// JSON is YAML, so one decoder reads both.
	if err := yaml.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("prices %s: %w", path, err)
	}
	return p, p.validate()
}

func (p Prices) validate() error {
	for name, v := range map[string]float64{
		"request_per_million": p.RequestPerMillion, "processed_per_gb": p.ProcessedPerGB, "fixed_per_month": p.FixedPerMonth,
		"vcpu_hour": p.VCPUHour, "transfer_out_per_gb": p.TransferOutPerGB, "transfer_in_per_gb": p.TransferInPerGB,
		"store_write_per_1000": p.StoreWritePer1000, "store_read_per_1000": p.StoreReadPer1000,
		"storage_gb_month": p.StorageGBMonth, "sts_per_call": p.STSPerCall,
	} {
		if v < 0 || math.IsNaN(v) {
			return fmt.Errorf("prices: %s must be 0 or more", name)
		}
	}
	if p.RequestIncrement < 0 || p.MaxRequestBytes < 0 {
		return fmt.Errorf("prices: request_increment and max_request_bytes must be 0 or more")
	}
	return nil
}

// storeWrites are the operations billed at the write (PUT) rate; deletes
// and aborts are free; everything else is billed at the read rate.
var storeWrites = map[string]bool{
	"PutObject": true, "PostObject": true, "CopyObject": true, "List": true,
	"CreateMultipartUpload": true, "UploadPart": true, "CompleteMultipartUpload": true, "ListParts": true,
}

var storeFree = map[string]bool{"DeleteObject": true, "AbortMultipartUpload": true}

// Scenario is the load priced.
type Scenario struct {
	UploadsPerDay int64
	AvgSize       int64
	// UploadsPerSession is how many uploads one option 4 credential (one
	// STS call, up to an hour) serves; at least 1.
	UploadsPerSession float64
	// Days in the month priced (30).
	Days float64
}

// Estimate is one path's monthly cost for a Scenario.
type Estimate struct {
	Path   string
	Counts Counts // the measured row used
	// Monthly quantities.
	Uploads, SluiceRequests, BilledRequests, ProcessedGB, CPUSeconds, OutGB float64
	StoreWrites, StoreReads, STSCalls, StoredGB                             float64
	// Monthly USD by line.
	FrontDoor, Compute, TransferOut, StoreRequests, Storage, STS float64
	// Safety is the part of StoreRequests that complete's read-back costs
	// (HEAD, the sniffing ranged GET, and a whole-object GET to hash).
	Safety float64
	// TooLarge says the upload does not fit the front door (a request
	// body over MaxRequestBytes).
	TooLarge bool
}

// Total is the month's cost of the uploads, without FixedPerMonth.
func (e Estimate) Total() float64 {
	return e.FrontDoor + e.Compute + e.TransferOut + e.StoreRequests + e.Storage + e.STS
}

const gb = 1 << 30

// Price prices one path for s with the measured row r; sluiceCPU is the
// CPU per upload charged to sluice (see SluiceCPU).
func Price(r Counts, sluiceCPU float64, s Scenario, p Prices) Estimate {
	days := s.Days
	if days <= 0 {
		days = 30
	}
	per := max(s.UploadsPerSession, 1)
	u := float64(s.UploadsPerDay) * days
	e := Estimate{Path: r.Path, Counts: r, Uploads: u}
	sessions := 0.0
	if r.SessionRequests > 0 {
		sessions = u / per
		e.STSCalls = sessions
	}
	// Bytes scale with the scenario's size, not the measured one.
	scale := float64(s.AvgSize) / float64(max(r.Size, 1))
	upBytes := r.UploadBytes * scale
	in := r.BytesIn - r.UploadBytes + upBytes
	e.SluiceRequests = u*r.SluiceRequests + sessions*r.SessionRequests
	billed := r.SluiceRequests
	if p.RequestIncrement > 0 && upBytes > 0 {
		// The requests that carry the file are metered per increment.
		billed = max(r.SluiceRequests, r.SluiceRequests-1+math.Ceil(upBytes/float64(p.RequestIncrement)))
	}
	e.BilledRequests = u*billed + sessions*r.SessionRequests
	e.TooLarge = p.MaxRequestBytes > 0 && r.Path == PathProxy && float64(s.AvgSize) > float64(p.MaxRequestBytes)
	e.ProcessedGB = u * (in + r.BytesOut) / gb
	e.OutGB = u * r.BytesOut / gb
	e.CPUSeconds = u*sluiceCPU + sessions*r.SessionCPUSeconds
	for op, n := range r.Store {
		switch {
		case storeFree[op]:
		case storeWrites[op]:
			e.StoreWrites += u * n
		default:
			e.StoreReads += u * n
			if op == "HeadObject" || op == "GetObjectRange" || op == "GetObject" {
				e.Safety += u * n * p.StoreReadPer1000 / 1000
			}
		}
	}
	e.StoredGB = u * float64(s.AvgSize) / gb
	e.FrontDoor = e.BilledRequests*p.RequestPerMillion/1e6 + e.ProcessedGB*p.ProcessedPerGB
	e.Compute = e.CPUSeconds / 3600 * p.VCPUHour
	e.TransferOut = e.OutGB*p.TransferOutPerGB + u*in/gb*p.TransferInPerGB
	e.StoreRequests = e.StoreWrites*p.StoreWritePer1000/1000 + e.StoreReads*p.StoreReadPer1000/1000
	e.Storage = e.StoredGB * p.StorageGBMonth
	e.STS = e.STSCalls * p.STSPerCall
	return e
}

// SluiceCPU is the CPU per upload charged to sluice for row r: what the
// server process spent, less what the embedded store spent taking the
// bytes when the client sent them to the store itself (options 2 and 4),
// which a hosted store does on its own machines. The store's share is
// option 4's CPU per upload at the same size (direct, store-only PUTs).
// A POST costs sluice what a PUT does (a grant and a complete); the
// embedded store's form parsing, which makes the POST row's CPU higher,
// is the store's, so the PUT row stands for both.
func (t *Table) SluiceCPU(r Counts) float64 {
	switch r.Path {
	case PathSTS:
		return 0
	case PathPUT, PathPOST:
		put, okPut := t.Row(PathPUT, r.Size)
		direct, okDirect := t.Row(PathSTS, r.Size)
		if okPut && okDirect && put.Size == r.Size && direct.Size == r.Size {
			return max(put.CPUSeconds-direct.CPUSeconds, 0)
		}
	}
	return r.CPUSeconds
}

// Model prices every path of the table for s.
func (t *Table) Model(s Scenario, p Prices) []Estimate {
	var out []Estimate
	for _, path := range Paths {
		r, ok := t.Row(path, s.AvgSize)
		if !ok {
			continue
		}
		out = append(out, Price(r, t.SluiceCPU(r), s, p))
	}
	return out
}
