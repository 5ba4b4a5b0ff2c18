package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/raym33/ainative/internal/image"
	"github.com/raym33/ainative/internal/store"
	"github.com/raym33/ainative/internal/update"
)

func init() { register(newImageCmd) }

func newImageCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build bootable ainative images",
	}
	cmd.AddCommand(newImageBuildCmd())
	return cmd
}

// imageFlags are the image options shared by `image build` and `vm`.
type imageFlags struct {
	opts     image.Options
	maxModel int64
	modules  []string
}

func (f *imageFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.opts.Arch, "arch", "", "target architecture: amd64 or arm64 (default: this machine's)")
	fl.StringVar(&f.opts.Kernel, "kernel", "", "kernel image (bzImage) instead of the default gokrazy kernel module")
	fl.StringVar(&f.opts.ModulesDir, "modules", "", "the kernel's modules directory (default: found from its release); 'none' if it needs none")
	fl.StringSliceVar(&f.modules, "load-modules", nil, "modules to load at boot with --kernel (default: "+fmt.Sprint(image.QEMUModules)+")")
	fl.StringArrayVar(&f.opts.Models, "model", nil, "GGUF model file, or a model of the store by name, to copy to /models (repeatable)")
	fl.Int64Var(&f.maxModel, "max-initramfs-model", image.DefaultMaxInitramfsModel>>20, "largest model in MiB copied into the initramfs; larger ones go to a SquashFS disk (0: every model goes to the disk)")
	fl.StringVar(&f.opts.Services, "services", "", "services.json to bake in instead of the default (consoles)")
	fl.StringVar(&f.opts.Binary, "binary", "", "static ainative binary to use as /init (default: this one, or a cross-build)")
}

// resolveModels turns --model names that are not files into the store's
// files, named in the guest so that its runtime serves them under the
// same name (the last element of a hub name: qwen2.5:0.5b stays
// qwen2.5:0.5b, hf.co/Qwen/X-GGUF:Q4_K_M becomes X-GGUF:Q4_K_M).
func (f *imageFlags) resolveModels(ctx context.Context) error {
	var st *store.Store
	for i, m := range f.opts.Models {
		if _, err := os.Stat(m); err == nil {
			continue
		}
		if st == nil {
			var err error
			if st, err = openStore(); err != nil {
				return err
			}
		}
		res, err := st.Resolve(ctx, m)
		if err != nil {
			return fmt.Errorf("--model %s: not a file, and %w", m, err)
		}
		if len(res.Paths) != 1 {
			return fmt.Errorf("--model %s: split models cannot go into an image yet", m)
		}
		name := res.Name.String()
		name = strings.TrimSuffix(name[strings.LastIndex(name, "/")+1:], ":latest")
		if f.opts.ModelNames == nil {
			f.opts.ModelNames = map[string]string{}
		}
		f.opts.Models[i] = res.Paths[0]
		f.opts.ModelNames[res.Paths[0]] = name
	}
	return nil
}

// options completes the image options for the command's root.
func (f *imageFlags) options(cmd *cobra.Command, out string) image.Options {
	o := f.opts
	o.Out = out
	o.MaxInitramfsModel = f.maxModel << 20
	if f.maxModel <= 0 {
		o.MaxInitramfsModel = -1
	}
	if f.modules != nil {
		o.LoadModules = f.modules
	}
	for _, c := range cmd.Root().Commands() {
		if c.Annotations[noLinkAnnotation] == "" {
			o.Links = append(o.Links, c.Name())
		}
	}
	return o
}

func newImageBuildCmd() *cobra.Command {
	var (
		flags    imageFlags
		out      string
		asJSON   bool
		diskPath string
		diskSize string
		bundle   string
		signKey  string
		version  string
	)
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Write a kernel and initramfs that boot into ainative",
		Long: `Write a bootable image into --out: the kernel (by default the gokrazy
kernel Go module, with QEMU's drivers built in), an initramfs holding this
static binary as /init with links in /bin for every subcommand, the
service configuration, CA certificates, the kernel modules a --kernel
needs, and the --model files under /models; and image.json describing it.
Boot it with 'ainative vm --image DIR'.

With --disk FILE it also writes a bootable GPT disk image (UEFI, amd64
or arm64): an EFI system partition holding the kernel, the initramfs and
\EFI\BOOT\BOOTX64.EFI (BOOTAA64.EFI on arm64), a small loader that
starts them on firmware with no boot entry for the disk; root slots A
and B (A holds the system, B the first update), and the data partition
(ext4, mounted at /var/lib/ainative). Boot it with 'ainative vm --disk
FILE' (QEMU with OVMF or AAVMF), or write it to a USB stick with dd.

With --update-bundle FILE it also writes an update bundle of the image
(a tar of manifest.json with SHA-256 sums, the kernel and the
initramfs; signed with --sign-key, a PEM Ed25519 private key from
'openssl genpkey -algorithm ed25519'), which 'ainative update FILE'
installs on a running disk system.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			size, err := parseSize(diskSize)
			if err != nil {
				return fmt.Errorf("--size: %w", err)
			}
			if err := flags.resolveModels(cmd.Context()); err != nil {
				return err
			}
			m, err := image.Build(cmd.Context(), flags.options(cmd, out))
			if err != nil {
				return err
			}
			if diskPath != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "writing disk image %s (%s)\n", diskPath, diskSize)
				if err := image.WriteDisk(diskPath, out, size); err != nil {
					return err
				}
			}
			if bundle != "" {
				var key ed25519.PrivateKey
				if signKey != "" {
					if key, err = update.LoadPrivateKey(signKey); err != nil {
						return fmt.Errorf("--sign-key: %w", err)
					}
				}
				bm, err := image.WriteUpdateBundle(bundle, out, version, key)
				if err != nil {
					return fmt.Errorf("update bundle: %w", err)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote update bundle %s (version %s, signed: %v)\n", bundle, bm.Version, key != nil)
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(m)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "image in %s: kernel %s, initramfs %s",
				out, filepath.Join(out, m.Kernel), filepath.Join(out, m.Initramfs))
			if len(m.Modules) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), ", %d kernel modules for %s", len(m.Modules), m.KernelRelease)
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return nil
		},
	}
	flags.register(cmd)
	cmd.Flags().StringVarP(&out, "out", "o", "ainative-image", "output directory")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the image manifest as JSON")
	cmd.Flags().StringVar(&diskPath, "disk", "", "also write a bootable GPT disk image (UEFI) to this file")
	cmd.Flags().StringVar(&bundle, "update-bundle", "", "also write an update bundle of the image to this file, for 'ainative update'")
	cmd.Flags().StringVar(&signKey, "sign-key", "", "sign the --update-bundle with this PEM Ed25519 private key")
	cmd.Flags().StringVar(&version, "version", "", "version of the --update-bundle (default: a hash of its files)")
	cmd.Flags().StringVar(&diskSize, "size", "8G", "size of the --disk image (K, M, G, T suffixes); the data partition takes what the system does not")
	return cmd
}
