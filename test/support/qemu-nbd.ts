// Real qemu-nbd servers for the tests: started read-only on a loopback port or a Unix socket,
// waited for until they accept connections, and stopped.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/** A port that was free a moment ago (bind port 0, read it, close). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Start `qemu-nbd --read-only --persistent ARGS` and wait until it accepts connections. */
export async function serveQemuNbd(args: string[], endpoint: { port: number } | { path: string }): Promise<ChildProcess> {
  const child = spawn('qemu-nbd', ['--read-only', '--persistent', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  for (let attempt = 0; attempt < 200; attempt++) {
    if (child.exitCode !== null) throw new Error(`qemu-nbd ${args.join(' ')} exited: ${stderr}`);
    const ready = await new Promise<boolean>((resolve) => {
      const socket: Socket = 'port' in endpoint ? connect(endpoint.port, '127.0.0.1') : connect(endpoint.path);
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ready) return child;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill();
  throw new Error(`qemu-nbd ${args.join(' ')} did not start: ${stderr}`);
}

/** Stops the servers and waits for them to exit. */
export async function stopQemuNbd(children: readonly ChildProcess[]): Promise<void> {
  for (const child of children) {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  }
}
