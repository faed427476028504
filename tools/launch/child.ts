import { spawnSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';

/** Whether `command` can be run from PATH. */
export function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v '${command.replace(/'/g, '')}'`], { stdio: 'ignore' }).status === 0;
}

/** Whether a child is still running (neither exited nor killed by a signal). */
export function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Sends `signal`, waits up to `graceMs` for the exit, then SIGKILL; resolves once the process is gone. */
export function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
  return new Promise((resolve) => {
    if (!running(child)) return resolve();
    const force = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill(signal);
  });
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`; rejects after `timeoutMs` or if `child` exits first. */
export async function waitForPort(port: number, child: ChildProcess, what: string, output: () => string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!running(child)) throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before it listened: ${output().slice(-1500)}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${what} did not listen on port ${port} within ${timeoutMs} ms: ${output().slice(-1500)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Keeps the last `max` characters a child wrote to stdout and stderr (for error messages). */
export function tail(child: ChildProcess, max = 8000): () => string {
  let text = '';
  const keep = (chunk: Buffer): void => {
    text = (text + chunk.toString('utf8')).slice(-max);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => text;
}
