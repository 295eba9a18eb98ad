// http_agent_host.go: GET /v1/agent/host, the agent's host as Consul's
// (the shape of gopsutil's structs, which Consul returns and `consul debug`
// collects): memory, processors, host, the root file system's usage, the
// collection time, and the errors of whatever could not be read. It needs
// operator:read, as Consul's.
//
// Data flow: each request reads Linux's /proc files (meminfo, cpuinfo,
// uptime, sys/kernel/osrelease), /etc/os-release and statfs(2) afresh; a part that
// cannot be read is left out and its error listed in Errors, as Consul's.
//
// Concurrency: none; every request reads on its own.
package main

import (
	"bufio"
	"bytes"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// hostMemory is gopsutil's VirtualMemoryStat, the fields Linux gives.
type hostMemory struct {
	Total        uint64  `json:"total"`
	Available    uint64  `json:"available"`
	Used         uint64  `json:"used"`
	UsedPercent  float64 `json:"usedPercent"`
	Free         uint64  `json:"free"`
	Active       uint64  `json:"active"`
	Inactive     uint64  `json:"inactive"`
	Buffers      uint64  `json:"buffers"`
	Cached       uint64  `json:"cached"`
	Dirty        uint64  `json:"dirty"`
	Shared       uint64  `json:"shared"`
	Slab         uint64  `json:"slab"`
	SReclaimable uint64  `json:"sreclaimable"`
	SUnreclaim   uint64  `json:"sunreclaim"`
	PageTables   uint64  `json:"pageTables"`
	SwapCached   uint64  `json:"swapCached"`
	CommitLimit  uint64  `json:"commitLimit"`
	CommittedAS  uint64  `json:"committedAS"`
	SwapTotal    uint64  `json:"swapTotal"`
	SwapFree     uint64  `json:"swapFree"`
	Mapped       uint64  `json:"mapped"`
}

// hostCPU is gopsutil's InfoStat: one per logical processor.
type hostCPU struct {
	CPU        int32    `json:"cpu"`
	VendorID   string   `json:"vendorId"`
	Family     string   `json:"family"`
	Model      string   `json:"model"`
	Stepping   int32    `json:"stepping"`
	PhysicalID string   `json:"physicalId"`
	CoreID     string   `json:"coreId"`
	Cores      int32    `json:"cores"`
	ModelName  string   `json:"modelName"`
	Mhz        float64  `json:"mhz"`
	CacheSize  int32    `json:"cacheSize"`
	Flags      []string `json:"flags"`
	Microcode  string   `json:"microcode"`
}

// hostInfo is gopsutil's host InfoStat.
type hostInfo struct {
	Hostname        string `json:"hostname"`
	Uptime          uint64 `json:"uptime"`
	BootTime        uint64 `json:"bootTime"`
	Procs           uint64 `json:"procs"`
	OS              string `json:"os"`
	Platform        string `json:"platform"`
	PlatformFamily  string `json:"platformFamily"`
	PlatformVersion string `json:"platformVersion"`
	KernelVersion   string `json:"kernelVersion"`
	KernelArch      string `json:"kernelArch"`
}

// hostDisk is gopsutil's UsageStat of the root file system.
type hostDisk struct {
	Path              string  `json:"path"`
	Total             uint64  `json:"total"`
	Free              uint64  `json:"free"`
	Used              uint64  `json:"used"`
	UsedPercent       float64 `json:"usedPercent"`
	InodesTotal       uint64  `json:"inodesTotal"`
	InodesUsed        uint64  `json:"inodesUsed"`
	InodesFree        uint64  `json:"inodesFree"`
	InodesUsedPercent float64 `json:"inodesUsedPercent"`
}

// hostReport is Consul's debug.HostInfo.
type hostReport struct {
	Memory         *hostMemory
	CPU            []hostCPU
	Host           *hostInfo
	Disk           *hostDisk
	CollectionTime int64
	Errors         []string
}

func (h *httpAPI) agentHost(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := h.agentRequire(r, aclResOperator, aclRead, ""); err != nil {
		return nil, err
	}
	rep := &hostReport{CollectionTime: time.Now().UnixNano()}
	fail := func(err error) { rep.Errors = append(rep.Errors, err.Error()) }
	var err error
	if rep.Memory, err = readHostMemory(); err != nil {
		fail(err)
	}
	if rep.CPU, err = readHostCPUs(); err != nil {
		fail(err)
	}
	if rep.Host, err = readHostInfo(); err != nil {
		fail(err)
	}
	if rep.Disk, err = readHostDisk("/"); err != nil {
		fail(err)
	}
	return rep, nil
}

// procFields reads a "Key: value" file of /proc into a map.
func procFields(path string, each func(key, value string)) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok {
			each(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	return sc.Err()
}

func readHostMemory() (*hostMemory, error) {
	kb := map[string]uint64{}
	err := procFields("/proc/meminfo", func(k, v string) {
		n, _ := strconv.ParseUint(strings.TrimSuffix(v, " kB"), 10, 64)
		kb[k] = n * 1024
	})
	if err != nil {
		return nil, err
	}
	m := &hostMemory{Total: kb["MemTotal"], Available: kb["MemAvailable"], Free: kb["MemFree"], Active: kb["Active"],
		Inactive: kb["Inactive"], Buffers: kb["Buffers"], Cached: kb["Cached"] + kb["SReclaimable"], Dirty: kb["Dirty"],
		Shared: kb["Shmem"], Slab: kb["Slab"], SReclaimable: kb["SReclaimable"], SUnreclaim: kb["SUnreclaim"],
		PageTables: kb["PageTables"], SwapCached: kb["SwapCached"], CommitLimit: kb["CommitLimit"],
		CommittedAS: kb["Committed_AS"], SwapTotal: kb["SwapTotal"], SwapFree: kb["SwapFree"], Mapped: kb["Mapped"]}
	// gopsutil's: used is what neither the free lists nor the caches hold.
	if used := m.Total - m.Free - m.Buffers - m.Cached; m.Total > m.Free+m.Buffers+m.Cached {
		m.Used = used
	}
	if m.Total > 0 {
		m.UsedPercent = float64(m.Used) / float64(m.Total) * 100
	}
	return m, nil
}

func readHostCPUs() ([]hostCPU, error) {
	var cpus []hostCPU
	err := procFields("/proc/cpuinfo", func(k, v string) {
		if k == "processor" {
			n, _ := strconv.Atoi(v)
			cpus = append(cpus, hostCPU{CPU: int32(n), Cores: 1, Flags: []string{}})
			return
		}
		if len(cpus) == 0 {
			return
		}
		c := &cpus[len(cpus)-1]
		switch k {
		case "vendor_id":
			c.VendorID = v
		case "cpu family":
			c.Family = v
		case "model":
			c.Model = v
		case "stepping":
			n, _ := strconv.Atoi(v)
			c.Stepping = int32(n)
		case "physical id":
			c.PhysicalID = v
		case "core id":
			c.CoreID = v
		case "model name":
			c.ModelName = v
		case "cpu MHz":
			c.Mhz, _ = strconv.ParseFloat(v, 64)
		case "cache size":
			n, _ := strconv.Atoi(strings.TrimSuffix(v, " KB"))
			c.CacheSize = int32(n * 1024)
		case "flags":
			c.Flags = strings.Fields(v)
		case "microcode":
			c.Microcode = v
		}
	})
	return cpus, err
}

func readHostInfo() (*hostInfo, error) {
	hi := &hostInfo{OS: runtime.GOOS}
	hi.Hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		hi.KernelVersion = strings.TrimSpace(string(b))
	}
	hi.KernelArch = map[string]string{"amd64": "x86_64", "arm64": "aarch64", "386": "i686"}[runtime.GOARCH]
	if hi.KernelArch == "" {
		hi.KernelArch = runtime.GOARCH
	}
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return nil, err
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		up, _ := strconv.ParseFloat(f[0], 64)
		hi.Uptime = uint64(up)
		hi.BootTime = uint64(time.Now().Unix()) - hi.Uptime
	}
	if entries, err := os.ReadDir("/proc"); err == nil {
		for _, e := range entries {
			if _, err := strconv.Atoi(e.Name()); err == nil {
				hi.Procs++
			}
		}
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(line, "=")
			v = strings.Trim(v, `"`)
			switch k {
			case "ID":
				hi.Platform = v
			case "ID_LIKE":
				hi.PlatformFamily = v
			case "VERSION_ID":
				hi.PlatformVersion = v
			}
		}
		if hi.PlatformFamily == "" {
			hi.PlatformFamily = hi.Platform
		}
	}
	return hi, nil
}

func readHostDisk(path string) (*hostDisk, error) {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(path, &fs); err != nil {
		return nil, err
	}
	bs := uint64(fs.Bsize)
	d := &hostDisk{Path: path, Total: fs.Blocks * bs, Free: fs.Bavail * bs, InodesTotal: fs.Files, InodesFree: fs.Ffree}
	d.Used = (fs.Blocks - fs.Bfree) * bs
	if d.Used+d.Free > 0 {
		d.UsedPercent = float64(d.Used) / float64(d.Used+d.Free) * 100
	}
	d.InodesUsed = d.InodesTotal - d.InodesFree
	if d.InodesTotal > 0 {
		d.InodesUsedPercent = float64(d.InodesUsed) / float64(d.InodesTotal) * 100
	}
	return d, nil
}
