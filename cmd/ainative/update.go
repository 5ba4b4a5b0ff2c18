package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/raym33/ainative/internal/store"
	"github.com/raym33/ainative/internal/update"
)

func init() { register(newUpdateCmd) }

func newUpdateCmd() *cobra.Command {
	var (
		status    bool
		check     bool
		asJSON    bool
		publicKey string
	)
	cmd := &cobra.Command{
		Use:   "update BUNDLE|URL",
		Short: "Install a new system into the inactive slot; the next boot tries it once",
		Long: `Install an update bundle (from 'ainative image build --update-bundle FILE')
on a system booted from an ainative disk image. BUNDLE is a file, a block
device holding one (a disk attached to the VM), or an http(s) URL.

The whole bundle is verified first (SHA-256 of every file; its Ed25519
signature when a public key is configured in /etc/ainative/update.pub or
/var/lib/ainative/update.pub, or given with --public-key): a truncated or
tampered bundle is refused before anything is written. It is then written
into the slot not running now, and the firmware's BootNext is set to it:
the next boot tries the new slot once. If that boot reaches a healthy
state (PID 1 up, services started) within the deadline
(ainative.health_deadline, 60s), PID 1 commits it; otherwise the machine
comes back on the old slot. The data partition is not touched.

--status prints the slot running now, the committed slot, the slot the
next boot tries, and each slot's version. --check only verifies a bundle,
on any machine.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if status {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			sys := &update.System{}
			if status {
				st, err := sys.Status()
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSONValue(cmd.OutOrStdout(), st)
				}
				printSlotStatus(cmd.OutOrStdout(), st)
				return nil
			}
			var pub ed25519.PublicKey
			var err error
			keyFrom := ""
			if publicKey != "" {
				b, rerr := os.ReadFile(publicKey)
				if rerr != nil {
					return fmt.Errorf("--public-key: %w", rerr)
				}
				if pub, err = update.ParsePublicKey(b); err != nil {
					return fmt.Errorf("--public-key %s: %w", publicKey, err)
				}
				keyFrom = publicKey
			} else if pub, keyFrom, err = update.LoadPublicKey(update.PublicKeyPaths); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(contextOf(cmd), os.Interrupt, syscall.SIGTERM)
			defer stop()
			p := newProgressPrinter(cmd.OutOrStdout(), cmd.ErrOrStderr(), false)
			defer p.finish()
			src := args[0]
			if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
				tmp, err := downloadBundle(ctx, src, p)
				if err != nil {
					return err
				}
				defer os.Remove(tmp)
				src = tmp
			}
			open := func() (io.ReadCloser, error) { return os.Open(src) }
			if check {
				f, err := open()
				if err != nil {
					return err
				}
				defer f.Close()
				m, err := update.Verify(f, pub, nil)
				if err != nil {
					return fmt.Errorf("bundle refused: %w", err)
				}
				if asJSON {
					return writeJSONValue(cmd.OutOrStdout(), m)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "bundle %s: version %s, built %s, %d files, signature checked: %v\n",
					args[0], m.Version, m.Built.Format(time.RFC3339), len(m.Files), pub != nil)
				return nil
			}
			res, err := sys.Install(ctx, open, pub, func(phase string, done, total int64) {
				p.report(store.Progress{Status: phase, Total: total, Completed: done})
			})
			p.finish()
			if err != nil {
				return fmt.Errorf("update refused: %w", err)
			}
			if asJSON {
				return writeJSONValue(cmd.OutOrStdout(), res)
			}
			signed := "not signed (no public key configured)"
			if res.Signed {
				signed = "signature checked with " + keyFrom
			}
			fmt.Fprintf(cmd.OutOrStdout(), "installed version %s into slot %s (%s); %s\n", res.Manifest.Version, res.Slot, res.Device, signed)
			fmt.Fprintf(cmd.OutOrStdout(), "the next boot tries slot %s once; reboot to switch (slot %s comes back if it fails)\n", res.Slot, res.Previous)
			return nil
		},
	}
	cmd.Flags().BoolVar(&status, "status", false, "print the slots and which one boots")
	cmd.Flags().BoolVar(&check, "check", false, "only verify the bundle (checksums, and the signature when a key is configured or given)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result (or --status) as JSON")
	cmd.Flags().StringVar(&publicKey, "public-key", "", "PEM Ed25519 public key the bundle must be signed with (default: the configured one, if any)")
	return cmd
}

func writeJSONValue(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printSlotStatus(w io.Writer, st *update.Status) {
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	fmt.Fprintf(w, "current slot:   %s\ncommitted slot: %s\n", dash(st.Current), dash(st.Committed))
	if st.Next != "" {
		fmt.Fprintf(w, "next boot:      %s (once)\n", st.Next)
	}
	if st.Trial {
		fmt.Fprintf(w, "slot %s is on trial: it is committed once healthy, else the machine reboots into %s\n", st.Current, st.Committed)
	}
	if st.Problem != "" {
		fmt.Fprintf(w, "boot variables: %s\n", st.Problem)
	}
	for _, sl := range st.Slots {
		if sl.Manifest == nil {
			fmt.Fprintf(w, "slot %s (%s): %s\n", sl.Name, sl.Device, sl.Problem)
			continue
		}
		fmt.Fprintf(w, "slot %s (%s): version %s, built %s\n", sl.Name, sl.Device, sl.Manifest.Version, sl.Manifest.Built.Format(time.RFC3339))
	}
}

// downloadBundle fetches a bundle to a temporary file (it is read twice:
// verified, then written), no larger than a slot.
func downloadBundle(ctx context.Context, url string, p *progressPrinter) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("downloading %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("downloading %s: %s", url, resp.Status)
	}
	dir := os.TempDir()
	if fi, err := os.Stat("/var/lib/ainative"); err == nil && fi.IsDir() {
		dir = "/var/lib/ainative" // on disk, not in RAM
	}
	f, err := os.CreateTemp(dir, ".update-bundle-*")
	if err != nil {
		return "", err
	}
	const limit = update.MaxSystemSize + 1<<20
	var done int64
	_, err = io.Copy(f, io.TeeReader(io.LimitReader(resp.Body, limit+1), writerFunc(func(b []byte) {
		done += int64(len(b))
		p.report(store.Progress{Status: "downloading", Total: resp.ContentLength, Completed: done})
	})))
	if err == nil && done > limit {
		err = fmt.Errorf("bundle larger than %d MiB", limit>>20)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("downloading %s: %w", url, err)
	}
	return f.Name(), nil
}

type writerFunc func([]byte)

func (w writerFunc) Write(b []byte) (int, error) { w(b); return len(b), nil }
