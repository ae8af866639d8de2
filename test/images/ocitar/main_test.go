package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// layerEntry is what the tests compare of a layer's tar header.
type layerEntry struct {
	name     string
	typeflag byte
	mode     int64
	link     string
	content  string
}

func TestWriteArchive(t *testing.T) {
	const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	cases := []struct {
		name    string
		trees   []map[string]string // path -> content; "->x" symlink, "=>x" hardlink to x, "/" dir
		opts    options
		tag     string
		entries []layerEntry
		config  map[string]any
	}{{
		name:  "files, modes, symlink and hardlink",
		trees: []map[string]string{{"bin/": "/", "bin/tool": "#!/bin/sh\n", "bin/alias": "->tool", "bin/again": "=>bin/tool", "etc/passwd": "root:x:0:0::/:/bin/sh\n", "tmp/": "/"}},
		opts:  options{name: "registry.example/ns/tool:v1.2.3", entrypoint: "/bin/tool", cmd: []string{"--flag", "x"}},
		tag:   "v1.2.3",
		entries: []layerEntry{
			{"bin/", tar.TypeDir, 0o755, "", ""},
			{"bin/again", tar.TypeReg, 0o755, "", "#!/bin/sh\n"},
			{"bin/alias", tar.TypeSymlink, 0o777, "tool", ""},
			{"bin/tool", tar.TypeLink, 0o755, "bin/again", ""},
			{"etc/", tar.TypeDir, 0o755, "", ""},
			{"etc/passwd", tar.TypeReg, 0o644, "", "root:x:0:0::/:/bin/sh\n"},
			{"tmp/", tar.TypeDir, 0o1777, "", ""},
		},
		config: map[string]any{"Entrypoint": []any{"/bin/tool"}, "Cmd": []any{"--flag", "x"}, "Env": []any{defaultPath}},
	}, {
		name:    "dev, proc and sys are kept empty",
		trees:   []map[string]string{{"dev/null": "x", "proc/1/status": "x", "sys/kernel/x": "x", "usr/dev/keep": "k"}},
		opts:    options{name: "pause:3.10", entrypoint: "/pause", env: []string{"PATH=/bin", "A=b"}},
		tag:     "3.10",
		entries: []layerEntry{{"dev/", tar.TypeDir, 0o755, "", ""}, {"proc/", tar.TypeDir, 0o755, "", ""}, {"sys/", tar.TypeDir, 0o755, "", ""}, {"usr/", tar.TypeDir, 0o755, "", ""}, {"usr/dev/", tar.TypeDir, 0o755, "", ""}, {"usr/dev/keep", tar.TypeReg, 0o644, "", "k"}},
		config:  map[string]any{"Entrypoint": []any{"/pause"}, "Env": []any{"PATH=/bin", "A=b"}},
	}, {
		name: "later trees overlay earlier ones; a registry port is not a tag",
		trees: []map[string]string{
			{"usr/local/bin/": "/", "etc/os-release": "base", "opt/old/file": "gone"},
			{"usr/local/bin/driver": "new", "etc/os-release": "over", "opt/old": "a file now"},
		},
		opts: options{name: "localhost:5000/driver", cmd: []string{"sh"}},
		tag:  "latest",
		entries: []layerEntry{
			{"etc/", tar.TypeDir, 0o755, "", ""}, {"etc/os-release", tar.TypeReg, 0o644, "", "over"},
			{"opt/", tar.TypeDir, 0o755, "", ""}, {"opt/old", tar.TypeReg, 0o644, "", "a file now"},
			{"usr/", tar.TypeDir, 0o755, "", ""}, {"usr/local/", tar.TypeDir, 0o755, "", ""},
			{"usr/local/bin/", tar.TypeDir, 0o755, "", ""}, {"usr/local/bin/driver", tar.TypeReg, 0o644, "", "new"},
		},
		config: map[string]any{"Cmd": []any{"sh"}, "Env": []any{defaultPath}},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := tc.opts
			for i, tree := range tc.trees {
				root := filepath.Join(dir, "root", string(rune('a'+i)))
				makeTree(t, root, tree)
				opts.roots = append(opts.roots, root)
			}
			opts.arch = "amd64"
			opts.out = filepath.Join(dir, "image.tar")
			sum, err := write(opts)
			if err != nil {
				t.Fatal(err)
			}
			first, err := os.ReadFile(opts.out)
			if err != nil {
				t.Fatal(err)
			}
			// The same trees make the same bytes.
			opts.out = filepath.Join(dir, "again.tar")
			if _, err := write(opts); err != nil {
				t.Fatal(err)
			}
			if again, _ := os.ReadFile(opts.out); !bytes.Equal(first, again) {
				t.Error("two runs on the same trees wrote different archives")
			}
			files := readTar(t, first, true)
			if string(files["oci-layout"]) != `{"imageLayoutVersion":"1.0.0"}` {
				t.Errorf("oci-layout = %q", files["oci-layout"])
			}
			var index struct {
				SchemaVersion int          `json:"schemaVersion"`
				Manifests     []descriptor `json:"manifests"`
			}
			mustJSON(t, files["index.json"], &index)
			if index.SchemaVersion != 2 || len(index.Manifests) != 1 {
				t.Fatalf("index.json = %s", files["index.json"])
			}
			md := index.Manifests[0]
			wantAnn := map[string]string{"io.containerd.image.name": tc.opts.name, "org.opencontainers.image.ref.name": tc.tag}
			if !reflect.DeepEqual(md.Annotations, wantAnn) {
				t.Errorf("index annotations = %v, want %v", md.Annotations, wantAnn)
			}
			if md.Platform == nil || *md.Platform != (platform{"amd64", "linux"}) || md.Digest != sum.manifest {
				t.Errorf("index manifest descriptor = %+v (write said %s)", md, sum.manifest)
			}
			var manifest struct {
				Config descriptor   `json:"config"`
				Layers []descriptor `json:"layers"`
			}
			mustJSON(t, checkBlob(t, files, md, "application/vnd.oci.image.manifest.v1+json"), &manifest)
			var config struct {
				Architecture, OS string
				Config           map[string]any
				RootFS           struct {
					Type    string
					DiffIDs []string `json:"diff_ids"`
				}
			}
			mustJSON(t, checkBlob(t, files, manifest.Config, "application/vnd.oci.image.config.v1+json"), &config)
			if len(manifest.Layers) != 1 {
				t.Fatalf("manifest has %d layers", len(manifest.Layers))
			}
			layer := checkBlob(t, files, manifest.Layers[0], "application/vnd.oci.image.layer.v1.tar")
			if config.Architecture != "amd64" || config.OS != "linux" || config.RootFS.Type != "layers" ||
				!slices.Equal(config.RootFS.DiffIDs, []string{manifest.Layers[0].Digest}) {
				t.Errorf("config = %+v; the uncompressed layer's diff_id must be its digest %s", config, manifest.Layers[0].Digest)
			}
			if !reflect.DeepEqual(config.Config, tc.config) {
				t.Errorf("config.config = %v, want %v", config.Config, tc.config)
			}
			got, content := layerEntries(t, layer)
			if !reflect.DeepEqual(got, tc.entries) {
				t.Errorf("layer entries:\n got %v\nwant %v", got, tc.entries)
			}
			if content != sum.contentBytes {
				t.Errorf("write counted %d content bytes, the layer holds %d", sum.contentBytes, content)
			}
		})
	}
}

func TestSplitName(t *testing.T) {
	for name, want := range map[string][2]string{
		"ghcr.io/cinder-csi/cinder-csi-driver:v0.1.0": {"ghcr.io/cinder-csi/cinder-csi-driver", "v0.1.0"},
		"registry.k8s.io/pause:3.10":                  {"registry.k8s.io/pause", "3.10"},
		"localhost:5000/x":                            {"localhost:5000/x", "latest"},
		"busybox":                                     {"busybox", "latest"},
	} {
		if repo, tag := splitName(name); repo != want[0] || tag != want[1] {
			t.Errorf("splitName(%q) = %q, %q; want %q, %q", name, repo, tag, want[0], want[1])
		}
	}
}

// makeTree writes a tree: directories 0755 (tmp 1777), files 0644 (0755 for scripts),
// hardlinks after everything else so that their targets exist.
func makeTree(t *testing.T, root string, tree map[string]string) {
	t.Helper()
	var names, links []string
	for n, v := range tree {
		if strings.HasPrefix(v, "=>") {
			links = append(links, n)
		} else {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	slices.Sort(links)
	for _, n := range append(names, links...) {
		v, p := tree[n], filepath.Join(root, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case v == "/":
			mode := os.FileMode(0o755)
			if filepath.Base(n) == "tmp" {
				mode = 0o777 | os.ModeSticky
			}
			if err = os.MkdirAll(p, 0o755); err == nil {
				err = os.Chmod(p, mode)
			}
		case strings.HasPrefix(v, "->"):
			err = os.Symlink(v[2:], p)
		case strings.HasPrefix(v, "=>"):
			err = os.Link(filepath.Join(root, v[2:]), p)
		default:
			mode := os.FileMode(0o644)
			if strings.HasPrefix(v, "#!") {
				mode = 0o755
			}
			if err = os.WriteFile(p, []byte(v), mode); err == nil {
				err = os.Chmod(p, mode) // whatever the umask
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// readTar returns the regular files of an archive by name; strict requires every
// header of the outer archive to be a plain 0644 file owned by root at mtime 0.
func readTar(t *testing.T, data []byte, strict bool) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if strict && (hdr.Typeflag != tar.TypeReg || hdr.Mode != 0o644 || hdr.Uid != 0 || hdr.ModTime.Unix() != 0) {
			t.Errorf("archive entry %s: type %c mode %o uid %d mtime %v", hdr.Name, hdr.Typeflag, hdr.Mode, hdr.Uid, hdr.ModTime)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) != hdr.Size {
			t.Errorf("%s: header size %d, read %d", hdr.Name, hdr.Size, len(b))
		}
		files[hdr.Name] = b
	}
}

// checkBlob returns the blob a descriptor names, after checking its media type, size
// and digest.
func checkBlob(t *testing.T, files map[string][]byte, d descriptor, mediaType string) []byte {
	t.Helper()
	b, ok := files[blobPath(d.Digest)]
	if !ok {
		t.Fatalf("no blob %s in the archive", d.Digest)
	}
	sum := sha256.Sum256(b)
	if d.MediaType != mediaType || d.Size != int64(len(b)) || d.Digest != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("descriptor %+v does not match its blob (%s, %d bytes, sha256:%x)", d, mediaType, len(b), sum)
	}
	return b
}

// layerEntries lists the layer's headers, checking the deterministic fields, and
// returns the bytes of regular-file content.
func layerEntries(t *testing.T, layer []byte) ([]layerEntry, int64) {
	t.Helper()
	var out []layerEntry
	var content int64
	tr := tar.NewReader(bytes.NewReader(layer))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "" || hdr.Gname != "" || hdr.ModTime.Unix() != 0 || !hdr.AccessTime.IsZero() {
			t.Errorf("%s: owner %d:%d (%q:%q), mtime %v, atime %v; want 0:0 at 0", hdr.Name, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname, hdr.ModTime, hdr.AccessTime)
		}
		b, _ := io.ReadAll(tr)
		content += int64(len(b))
		mode := hdr.Mode &^ 0o170000 // tar keeps c_ISDIR-like bits for some types
		out = append(out, layerEntry{hdr.Name, hdr.Typeflag, mode, hdr.Linkname, string(b)})
	}
	if !slices.IsSortedFunc(out, func(a, b layerEntry) int { return strings.Compare(a.name, b.name) }) {
		t.Error("layer entries are not sorted")
	}
	return out, content
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}
