import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/config.js';

/**
 * mongo-java-server (de.bwaldvogel, in-memory backend): a second MongoDB-wire implementation,
 * independent of FerretDB, for the storage conformance tests. tools/mongo-java-server holds a
 * tiny launcher built with Maven into target/classes + target/lib.
 */
export interface JavaMongo {
  /** A database URI unique to `name`. */
  uri(name: string): string;
  stop(): Promise<void>;
}

const LAUNCHER_DIR = join(PROJECT_ROOT, 'tools', 'mongo-java-server');
const TARGET = join(LAUNCHER_DIR, 'target');
const MAIN_CLASS = join(TARGET, 'classes', 'hub', 'mongojava', 'Main.class');
const JAR = join(TARGET, 'mongo-java-server-launcher-1.0.0.jar');
const STAMP = join(TARGET, 'built.stamp');

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : [join(dir, e.name)]));
}

/** Builds the launcher with Maven when its classes or libraries are missing or older than pom.xml / the sources. */
export function ensureJavaMongoBuilt(): void {
  const newest = Math.max(...[join(LAUNCHER_DIR, 'pom.xml'), ...sourceFiles(join(LAUNCHER_DIR, 'src'))].map((f) => statSync(f).mtimeMs));
  const lib = join(TARGET, 'lib');
  const built = existsSync(MAIN_CLASS) && existsSync(lib) && readdirSync(lib).some((f) => f.startsWith('mongo-java-server-core-'));
  // `mvn package` (here or in .ci/run) rewrites the jar when classes change; the stamp covers a
  // pom change that leaves the jar as it was.
  const outputs = [JAR, STAMP].filter(existsSync).map((f) => statSync(f).mtimeMs);
  if (built && Math.max(0, ...outputs) >= newest) return;
  if (!onPath('mvn') || !onPath('java')) {
    throw new Error('mongo-java-server (tools/mongo-java-server) is not built and java/mvn are missing: install a JDK 17+ and Maven (Debian: default-jdk-headless maven).');
  }
  const result = spawnSync('mvn', ['-q', '-B', 'package', '-DskipTests'], { cwd: LAUNCHER_DIR, stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) throw new Error(`building tools/mongo-java-server failed (mvn exited ${result.status})`);
  writeFileSync(STAMP, `${new Date().toISOString()}\n`);
}

/** Starts mongo-java-server on 127.0.0.1 on an ephemeral port; it exits when stopped or when this process's end closes its stdin. */
export async function startJavaMongo(): Promise<JavaMongo> {
  ensureJavaMongoBuilt();
  const child = spawn('java', ['-cp', `${join(TARGET, 'classes')}:${join(TARGET, 'lib', '*')}`, 'hub.mongojava.Main', '0'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const base = await new Promise<string>((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(new Error(`mongo-java-server did not start within 30 s: ${err.slice(-500)}`)), 30_000);
    const onOut = (chunk: Buffer): void => {
      out += chunk.toString();
      const match = /mongo-java-server listening on (mongodb:\/\/\S+?)\/?\s/.exec(out);
      if (match?.[1]) {
        cleanup();
        resolve(match[1]);
      }
    };
    const onErr = (chunk: Buffer): void => {
      err = (err + chunk.toString()).slice(-4000);
    };
    const onExit = (code: number | null): void => fail(new Error(`mongo-java-server exited (${code}) before it was ready: ${err.slice(-500)}`));
    function cleanup(): void {
      clearTimeout(timer);
      child.stdout.off('data', onOut);
      child.stderr.off('data', onErr);
      child.off('exit', onExit);
      child.stdout.resume();
      child.stderr.resume();
    }
    function fail(e: Error): void {
      cleanup();
      child.kill('SIGKILL');
      reject(e);
    }
    child.stdout.on('data', onOut);
    child.stderr.on('data', onErr);
    child.once('exit', onExit);
  });
  return {
    uri: (name) => `${base}/${name}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const force = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(force);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
