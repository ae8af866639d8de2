package mount_test

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/build"
	"go/constant"
	"go/parser"
	"go/token"
	"go/types"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The scanner behind TestImageExecutables: which executables the Go code hands to
// exec, read from the source with go/parser and go/types.

type site struct{ pos, file, function, expr string }

type scanResult struct {
	names          map[string][]string // constant executable name -> "file:line" of its calls
	dynamic        []site
	wrappers       map[string]bool // "pkgpath.function"
	systemdMounter []string
	calls          int
}

func (r *scanResult) wrapperNames() []string { return slices.Sorted(maps.Keys(r.wrappers)) }

// wrapper is a function whose parameter arg names the executable it runs.
type wrapper struct{ arg int }

// scanPackage finds the exec calls of the Linux, non-test files of one package.
// relPkg names the package in messages; file positions are relative to base.
func (r *scanResult) scanPackage(base, dir, relPkg string) error {
	if r.names == nil {
		r.names, r.wrappers = map[string][]string{}, map[string]bool{}
	}
	ctx := build.Default
	ctx.GOOS, ctx.CgoEnabled = "linux", true
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		if ok, err := ctx.MatchFile(dir, name); err != nil || !ok {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil
	}
	// Imports are not loaded: constants of the package itself are all this needs, and
	// the errors about everything imported are expected.
	info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}, Defs: map[*ast.Ident]types.Object{}, Uses: map[*ast.Ident]types.Object{}}
	conf := types.Config{Importer: emptyImporter{}, Error: func(error) {}}
	conf.Check(relPkg, fset, files, info) //nolint:errcheck // see above

	// Find the wrappers first, to a fixed point (a wrapper of a wrapper), then collect.
	wrappers := map[types.Object]wrapper{}
	exported := map[string]wrapper{} // exported wrappers by name, for other packages' calls
	for {
		n := len(wrappers)
		r.walk(fset, files, info, wrappers, exported, base, relPkg, false)
		if len(wrappers) == n {
			break
		}
	}
	for obj := range wrappers {
		r.wrappers[relPkg+"."+obj.Name()] = true
	}
	r.walk(fset, files, info, wrappers, exported, base, relPkg, true)
	return nil
}

// walk visits every exec call (and wrapper call). Without collect it only records new
// wrappers; with collect it records names, dynamic sites and mountutils.New.
func (r *scanResult) walk(fset *token.FileSet, files []*ast.File, info *types.Info, wrappers map[types.Object]wrapper, exported map[string]wrapper, base, relPkg string, collect bool) {
	for _, f := range files {
		mountUtils := importName(f, "k8s.io/mount-utils")
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			params := paramIndex(fd, info)
			assigned := assignedObjects(fd.Body, info)
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				if sel, ok := call.Fun.(*ast.SelectorExpr); ok && collect && mountUtils != "" && sel.Sel.Name == "New" {
					if x, ok := sel.X.(*ast.Ident); ok && x.Name == mountUtils {
						r.systemdMounter = append(r.systemdMounter, position(fset, base, call.Pos()))
					}
				}
				arg, ok := execArg(call, info, wrappers, exported)
				if !ok || arg >= len(call.Args) {
					return true
				}
				name := call.Args[arg]
				if tv := info.Types[name]; tv.Value != nil && tv.Value.Kind() == constant.String {
					if collect {
						pos := position(fset, base, call.Pos())
						r.names[constant.StringVal(tv.Value)] = append(r.names[constant.StringVal(tv.Value)], pos)
						r.calls++
					}
					return true
				}
				if id, ok := name.(*ast.Ident); ok {
					if obj := info.Uses[id]; obj != nil {
						if i, isParam := params[obj]; isParam && !assigned[obj] {
							fobj := info.Defs[fd.Name]
							if _, known := wrappers[fobj]; !known && fobj != nil {
								wrappers[fobj] = wrapper{arg: i}
								if fd.Name.IsExported() {
									exported[fd.Name.Name] = wrapper{arg: i}
								}
							}
							return true
						}
					}
				}
				if collect {
					file, _ := filepath.Rel(base, fset.Position(call.Pos()).Filename)
					r.dynamic = append(r.dynamic, site{pos: position(fset, base, call.Pos()), file: filepath.ToSlash(file),
						function: fd.Name.Name, expr: types.ExprString(name)})
				}
				return true
			})
		}
	}
}

// execArg returns which argument of call names an executable, if call runs one.
func execArg(call *ast.CallExpr, info *types.Info, wrappers map[types.Object]wrapper, exported map[string]wrapper) (int, bool) {
	var id *ast.Ident
	switch fun := call.Fun.(type) {
	case *ast.Ident:
		id = fun
	case *ast.SelectorExpr:
		id = fun.Sel
		switch fun.Sel.Name {
		case "Command", "StartProcess":
			return 0, true
		case "CommandContext":
			return 1, true
		case "Exec", "ForkExec":
			if x, ok := fun.X.(*ast.Ident); ok && (x.Name == "syscall" || x.Name == "unix") {
				return 0, true
			}
		}
		if w, ok := exported[fun.Sel.Name]; ok {
			return w.arg, true
		}
	default:
		return 0, false
	}
	if w, ok := wrappers[info.Uses[id]]; ok {
		return w.arg, true
	}
	return 0, false
}

// paramIndex maps a function's parameter objects to their positions.
func paramIndex(fd *ast.FuncDecl, info *types.Info) map[types.Object]int {
	params := map[types.Object]int{}
	i := 0
	for _, field := range fd.Type.Params.List {
		if len(field.Names) == 0 {
			i++
		}
		for _, n := range field.Names {
			if obj := info.Defs[n]; obj != nil {
				params[obj] = i
			}
			i++
		}
	}
	return params
}

// assignedObjects are the variables a body assigns to or takes the address of: such
// a parameter no longer names what the caller passed.
func assignedObjects(body *ast.BlockStmt, info *types.Info) map[types.Object]bool {
	out := map[types.Object]bool{}
	mark := func(e ast.Expr) {
		if id, ok := e.(*ast.Ident); ok && info.Uses[id] != nil {
			out[info.Uses[id]] = true
		}
	}
	ast.Inspect(body, func(n ast.Node) bool {
		switch s := n.(type) {
		case *ast.AssignStmt:
			for _, l := range s.Lhs {
				mark(l)
			}
		case *ast.IncDecStmt:
			mark(s.X)
		case *ast.UnaryExpr:
			if s.Op == token.AND {
				mark(s.X)
			}
		}
		return true
	})
	return out
}

// importName is the name a file gives an import path, "" when it does not import it.
func importName(f *ast.File, path string) string {
	for _, imp := range f.Imports {
		if strings.Trim(imp.Path.Value, `"`) == path {
			if imp.Name != nil {
				return imp.Name.Name
			}
			return "mount" // the package clause of k8s.io/mount-utils
		}
	}
	return ""
}

func position(fset *token.FileSet, base string, pos token.Pos) string {
	p := fset.Position(pos)
	rel, err := filepath.Rel(base, p.Filename)
	if err != nil {
		rel = p.Filename
	}
	return fmt.Sprintf("%s:%d", filepath.ToSlash(rel), p.Line)
}

// emptyImporter gives every import an empty package.
type emptyImporter struct{}

func (emptyImporter) Import(path string) (*types.Package, error) {
	name := path[strings.LastIndex(path, "/")+1:]
	name = strings.ReplaceAll(strings.Split(name, ".")[0], "-", "")
	pkg := types.NewPackage(path, name)
	pkg.MarkComplete()
	return pkg, nil
}

// packageDirs lists the directories under top holding Go files, without testdata.
func packageDirs(top string) ([]string, error) {
	var dirs []string
	err := filepath.WalkDir(top, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !slices.Contains(dirs, filepath.Dir(path)) {
			dirs = append(dirs, filepath.Dir(path))
		}
		return nil
	})
	return dirs, err
}

// moduleDir is the module cache directory of a requirement of go.mod in root (test
// binaries carry no module list of their own). Replacements are not handled.
func moduleDir(t *testing.T, root, path string) string {
	t.Helper()
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	version := ""
	for line := range strings.Lines(string(gomod)) {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(f) >= 2 && f[0] == path {
			version = f[1]
		}
		if len(f) >= 1 && f[0] == "replace" && strings.Contains(line, path) {
			t.Fatalf("go.mod replaces %s: teach moduleDir about replacements", path)
		}
	}
	if version == "" {
		t.Fatalf("%s is not required in go.mod", path)
	}
	cache := os.Getenv("GOMODCACHE")
	if cache == "" {
		cache = filepath.Join(filepath.SplitList(build.Default.GOPATH)[0], "pkg", "mod")
	}
	if strings.ToLower(path+version) != path+version {
		t.Fatalf("%s@%s: capitals are escaped in the module cache; not handled", path, version)
	}
	dir := filepath.Join(cache, path+"@"+version)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the source of %s@%s is not in the module cache (%v): go mod download %s", path, version, err, path)
	}
	return dir
}

// supportedFilesystems reads the keys of the supportedFS map literal in pkg/driver: the
// filesystems the driver formats, and so the mkfs.<fs> and fsck.<fs> it needs.
func supportedFilesystems(dir string) ([]string, error) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "supportedFS" || len(vs.Values) != 1 {
				return true
			}
			if lit, ok := vs.Values[0].(*ast.CompositeLit); ok {
				for _, elt := range lit.Elts {
					if kv, ok := elt.(*ast.KeyValueExpr); ok {
						if b, ok := kv.Key.(*ast.BasicLit); ok && b.Kind == token.STRING {
							out = append(out, strings.Trim(b.Value, `"`))
						}
					}
				}
			}
			return false
		})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no supportedFS map literal with string keys in %s", dir)
	}
	slices.Sort(out)
	return out, nil
}

type listedExecutable struct {
	line   int
	pkg    string
	absent bool
}

// readExecutables parses executables.txt: "name  # package" or "name  # absent: reason".
func readExecutables(path string) (map[string]listedExecutable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]listedExecutable{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, comment, _ := strings.Cut(line, "#")
		name, comment = strings.TrimSpace(name), strings.TrimSpace(comment)
		l := listedExecutable{line: n, pkg: comment}
		if reason, ok := strings.CutPrefix(comment, "absent:"); ok {
			if strings.TrimSpace(reason) == "" {
				return nil, fmt.Errorf("%s:%d: %s is absent without a reason", path, n, name)
			}
			l.absent, l.pkg = true, ""
		}
		switch {
		case strings.ContainsAny(name, " \t"):
			return nil, fmt.Errorf("%s:%d: one executable a line: %q", path, n, name)
		case comment == "":
			return nil, fmt.Errorf("%s:%d: %s: say which Debian package provides it (name  # package)", path, n, name)
		case strings.ContainsAny(l.pkg, " \t"):
			return nil, fmt.Errorf("%s:%d: %s: one package name after #, or \"absent: reason\"", path, n, name)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s:%d: %s is listed twice", path, n, name)
		}
		out[name] = l
	}
	return out, sc.Err()
}

// readPackages returns the package names of packages.txt (comments stripped).
func readPackages(path string) (map[string]bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for line := range strings.Lines(string(b)) {
		if name, _, _ := strings.Cut(line, "#"); strings.TrimSpace(name) != "" {
			out[strings.TrimSpace(name)] = true
		}
	}
	return out, nil
}
