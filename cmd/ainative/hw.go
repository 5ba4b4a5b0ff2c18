package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"slices"

	"github.com/spf13/cobra"

	"github.com/raym33/ainative/internal/hw"
	"github.com/raym33/ainative/internal/sample"
)

func init() { register(newHWCmd) }

func newHWCmd() *cobra.Command {
	var (
		asJSON, noBandwidth bool
		threads             int
		mib                 int64
	)
	cmd := &cobra.Command{
		Use:   "hw",
		Short: "Describe the hardware inference runs on",
		Long: `Describe the hardware inference runs on: CPU and vector extensions,
cores (with affinity and cgroup quota), caches, memory (with the cgroup
limit), NUMA nodes, GPUs and NPUs, and the memory read bandwidth measured
now, with one thread and with the default inference thread count (or
--threads). Whatever cannot be read is reported as unknown.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := sample.CheckThreads(threads); err != nil {
				return err
			}
			if mib <= 0 {
				return fmt.Errorf("--bandwidth-mib %d: want a positive size", mib)
			}
			ctx := cmd.Context()
			info, err := hw.Discover(ctx)
			if err != nil {
				return err
			}
			if !noBandwidth {
				// GOMAXPROCS is below the default thread count only
				// when set so by hand; measure what can run.
				counts := []int{1, min(info.DefaultThreads(), runtime.GOMAXPROCS(0))}
				if threads > 0 {
					counts = []int{threads}
				}
				for _, n := range slices.Compact(counts) {
					bw, err := hw.MeasureReadBandwidth(ctx, n, mib<<20)
					if err != nil {
						return err
					}
					info.Bandwidth = append(info.Bandwidth, bw)
				}
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			}
			return info.WriteText(cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	cmd.Flags().BoolVar(&noBandwidth, "no-bandwidth", false, "skip the memory bandwidth measurement")
	cmd.Flags().IntVar(&threads, "threads", 0, "measure bandwidth with this many threads only (default: 1 and the default inference thread count)")
	cmd.Flags().Int64Var(&mib, "bandwidth-mib", hw.DefaultBandwidthBytes>>20, "memory to read per measurement, in MiB, split between the threads")
	return cmd
}
