// Command ocitar writes a directory tree as a one-layer OCI image archive (an OCI image
// layout in a tar: oci-layout, index.json, blobs/sha256/...) that
// `ctr -n k8s.io images import FILE.tar` loads under -name, with no container engine and
// no registry.
//
//	ocitar -name REPO:TAG -rootfs DIR [-rootfs DIR2 ...] -out FILE.tar
//	       [-entrypoint /path] [-cmd ARG]... [-env K=V]... [-arch amd64]
//
// Several -rootfs are laid over each other, later ones winning, so that a cached base
// tree is packed with a few extra files without being copied or changed.
//
// The archive is a function of the trees' contents only: entries are sorted, owned by
// 0:0 with mtime 0, the layer is an uncompressed tar, and nothing records when or where
// it was made. Symlinks, hardlinks and permission bits (setuid, sticky) are kept;
// device nodes, sockets and FIFOs are skipped, and so is whatever is under /dev, /proc
// and /sys (the runtime provides them); extended attributes are not recorded.
package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// options is what one archive is made of.
type options struct {
	name, out, entrypoint, arch string
	roots, cmd, env             []string
}

func main() {
	var o options
	flag.StringVar(&o.name, "name", "", "image name, REPO[:TAG] (TAG defaults to latest)")
	flag.Var((*listFlag)(&o.roots), "rootfs", "directory to pack (repeat to overlay: later wins)")
	flag.StringVar(&o.out, "out", "", "archive to write")
	flag.StringVar(&o.entrypoint, "entrypoint", "", "entrypoint executable")
	flag.Var((*listFlag)(&o.cmd), "cmd", "one argument of the default command (repeat)")
	flag.Var((*listFlag)(&o.env), "env", "K=V environment variable (repeat; PATH has a default)")
	flag.StringVar(&o.arch, "arch", runtime.GOARCH, "architecture of the image")
	flag.Parse()
	if o.name == "" || o.out == "" || len(o.roots) == 0 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: ocitar -name REPO:TAG -rootfs DIR [-rootfs DIR]... -out FILE.tar [-entrypoint P] [-cmd A]... [-env K=V]...")
		os.Exit(2)
	}
	s, err := write(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ocitar:", err)
		os.Exit(1)
	}
	// One line for scripts: name, manifest digest, bytes of file content in the tree.
	fmt.Printf("%s %s %d\n", o.name, s.manifest, s.contentBytes)
}

// summary is what write reports of the archive it wrote.
type summary struct {
	manifest     string // digest of the image manifest
	contentBytes int64  // bytes of regular-file content in the layer, hardlinks once
}

// splitName returns the repository and tag of REPO[:TAG]; a colon before the last
// slash belongs to a registry's port.
func splitName(name string) (repo, tag string) {
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		return name[:i], name[i+1:]
	}
	return name, "latest"
}

// entry is one path of the merged trees.
type entry struct {
	src  string // file on disk
	info fs.FileInfo
}

// collect merges the trees into archive paths (relative, no leading slash).
func collect(roots []string) (map[string]entry, error) {
	entries := map[string]entry{}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(root, path)
			if err != nil || rel == "." {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			if old, ok := entries[rel]; ok && old.info.IsDir() && !info.IsDir() {
				for k := range entries { // a file replaces a directory: drop its contents
					if strings.HasPrefix(k, rel+"/") {
						delete(entries, k)
					}
				}
			}
			switch mode := info.Mode(); {
			case mode.IsDir(), mode.IsRegular(), mode&fs.ModeSymlink != 0:
				entries[rel] = entry{src: path, info: info}
			}
			if info.IsDir() && (rel == "dev" || rel == "proc" || rel == "sys") {
				return fs.SkipDir
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", root, err)
		}
	}
	return entries, nil
}

// writeLayer writes the entries as a tar to w in sorted order and returns the bytes of
// file content written.
func writeLayer(w io.Writer, entries map[string]entry) (int64, error) {
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	type inode struct{ dev, ino uint64 }
	linked := map[inode]string{}
	tw := tar.NewWriter(w)
	var content int64
	for _, name := range names {
		e := entries[name]
		hdr, err := tar.FileInfoHeader(e.info, "")
		if err != nil {
			return 0, err
		}
		hdr.Name, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = name, 0, 0, "", ""
		hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = time.Unix(0, 0), time.Time{}, time.Time{}
		hdr.Format = tar.FormatPAX
		switch {
		case e.info.IsDir():
			hdr.Name += "/"
		case e.info.Mode()&fs.ModeSymlink != 0:
			if hdr.Linkname, err = os.Readlink(e.src); err != nil {
				return 0, err
			}
		default:
			if st, ok := e.info.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
				key := inode{uint64(st.Dev), uint64(st.Ino)}
				if first, ok := linked[key]; ok {
					hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
				} else {
					linked[key] = name
				}
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return 0, err
		}
		if hdr.Typeflag == tar.TypeReg {
			n, err := copyFile(tw, e.src)
			if err != nil {
				return 0, err
			}
			content += n
		}
	}
	return content, tw.Close()
}

func copyFile(w io.Writer, path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return io.Copy(w, f)
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

// write makes the archive: the layer goes to a temporary file first, since the
// manifest must name its digest and the tar must be written in order.
func write(o options) (summary, error) {
	entries, err := collect(o.roots)
	if err != nil {
		return summary{}, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(o.out), ".layer-*")
	if err != nil {
		return summary{}, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	content, err := writeLayer(io.MultiWriter(tmp, h), entries)
	if err != nil {
		return summary{}, err
	}
	layerSize, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return summary{}, err
	}
	layer := descriptor{MediaType: "application/vnd.oci.image.layer.v1.tar",
		Digest: "sha256:" + hex.EncodeToString(h.Sum(nil)), Size: layerSize}

	env := o.env
	if !hasKey(env, "PATH") {
		env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, env...)
	}
	cfg := map[string]any{"Env": env}
	if o.entrypoint != "" {
		cfg["Entrypoint"] = []string{o.entrypoint}
	}
	if len(o.cmd) > 0 {
		cfg["Cmd"] = o.cmd
	}
	config, _ := json.Marshal(map[string]any{
		"architecture": o.arch, "os": "linux", "config": cfg,
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layer.Digest}},
	})
	configDesc := blob("application/vnd.oci.image.config.v1+json", config)
	manifest, _ := json.Marshal(map[string]any{"schemaVersion": 2,
		"mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config":    configDesc, "layers": []descriptor{layer}})
	manifestDesc := blob("application/vnd.oci.image.manifest.v1+json", manifest)
	_, tag := splitName(o.name)
	manifestDesc.Annotations = map[string]string{
		"io.containerd.image.name": o.name, "org.opencontainers.image.ref.name": tag}
	manifestDesc.Platform = &platform{Architecture: o.arch, OS: "linux"}
	index, _ := json.Marshal(map[string]any{"schemaVersion": 2,
		"mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []descriptor{manifestDesc}})

	out, err := os.Create(o.out + ".partial")
	if err != nil {
		return summary{}, err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	tw := tar.NewWriter(out)
	add := func(name string, size int64, r io.Reader) error {
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: size, ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return summary{}, err
	}
	if err := add(blobPath(layer.Digest), layer.Size, tmp); err != nil {
		return summary{}, fmt.Errorf("write %s: %w", o.out, err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{blobPath(configDesc.Digest), config},
		{blobPath(manifestDesc.Digest), manifest},
		{"index.json", index},
	} {
		if err := add(f.name, int64(len(f.data)), bytes.NewReader(f.data)); err != nil {
			return summary{}, fmt.Errorf("write %s: %w", o.out, err)
		}
	}
	if err := tw.Close(); err != nil {
		return summary{}, err
	}
	if err := out.Close(); err != nil {
		return summary{}, err
	}
	return summary{manifest: manifestDesc.Digest, contentBytes: content}, os.Rename(out.Name(), o.out)
}

func blob(mediaType string, data []byte) descriptor {
	sum := sha256.Sum256(data)
	return descriptor{MediaType: mediaType, Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(len(data))}
}

func blobPath(digest string) string { return "blobs/sha256/" + strings.TrimPrefix(digest, "sha256:") }

func hasKey(env []string, key string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			return true
		}
	}
	return false
}
