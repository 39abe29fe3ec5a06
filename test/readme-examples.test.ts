/**
 * The curl examples of README.md and bridge/README.md, run as written: each
 * README's ```sh block that holds curl commands is played in its own bash, in
 * order, with the real `curl`, against the service as `npm start` runs it with its
 * defaults (embedded stores, console SMS, the real resend interval and hourly caps).
 * Two substitutions only: 127.0.0.1:8080 becomes the test's port, and a `CODE=...`
 * line gets the code the service just wrote to its log, as the README tells the
 * reader to do. Every curl command must carry the answer it expects in a comment,
 * beside it or on the next line:
 *   # 200 {user}              the status, and keys of `data` (of the body when it is no envelope)
 *   # 403 session_revoked     the status and a refusal's `data.code`
 *   # {"success":true,...}    the whole body
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "./support/eventually.js";
import { startServiceProcess, type ServiceProcess } from "./support/bridge-processes.js";
import { freshStores, type Stores } from "./support/grpc-harness.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const READMES = ["README.md", "bridge/README.md"];

interface Step {
  /** The shell text, continuation lines included, without its trailing comment. */
  command: string;
  /** What the comment says comes back, when it says so. */
  expected?: string;
}

/** The ```sh blocks of a Markdown text that run curl. */
function curlBlocks(markdown: string): string[] {
  const blocks = [...markdown.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
  return blocks.filter((block) => block.split("\n").some((line) => isCurl(line)));
}

function isCurl(command: string): boolean {
  return /^\s*curl\s/.test(command);
}

/** Where a `#` outside quotes starts a comment (bash's rule: at a word's start), or -1. */
function commentStart(text: string): number {
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote !== null) {
      if (c === quote) quote = null;
      else if (c === "\\" && quote === '"') i++;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === "\\") i++;
    else if (c === "#" && (i === 0 || /\s/.test(text[i - 1]!))) return i;
  }
  return -1;
}

const EXPECTATION = /^#\s*(\d{3}\b|\{)/;

/** A block's commands, each with the expectation beside it or on the line after it. */
function steps(block: string): Step[] {
  const lines = block.split("\n");
  const out: Step[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() === "" || lines[i]!.trim().startsWith("#")) continue;
    let text = lines[i]!;
    while (text.endsWith("\\") && i + 1 < lines.length) text += `\n${lines[++i]!}`;
    const at = commentStart(text);
    const comment = at < 0 ? undefined : text.slice(at).trim();
    const step: Step = { command: (at < 0 ? text : text.slice(0, at)).trimEnd() };
    if (comment !== undefined && EXPECTATION.test(comment)) step.expected = comment.slice(1).trim();
    else if (EXPECTATION.test(lines[i + 1]?.trim() ?? "")) step.expected = lines[++i]!.trim().slice(1).trim();
    out.push(step);
  }
  return out;
}

/** Checks an answer against its comment (see the file's header). */
function check(step: Step, status: number, body: unknown): void {
  const where = `${step.command}\n  → ${status} ${JSON.stringify(body)}`;
  const match = /^(?:(\d{3})\b)?\s*(.*)$/.exec(step.expected!)!;
  const rest = match[2]!;
  if (match[1] !== undefined) expect(status, where).toBe(Number(match[1]));
  const envelope = typeof body === "object" && body !== null && "success" in body ? (body as { success: boolean; data: Record<string, unknown> }) : undefined;
  const keys = /^\{([a-z_]+(?:,\s*[a-z_]+)*)\}/.exec(rest);
  const reason = /^([a-z_]+)\b/.exec(rest);
  if (rest.startsWith('{"')) {
    expect(body, where).toEqual(JSON.parse(rest));
  } else if (keys !== null) {
    if (envelope) expect(envelope.success, where).toBe(true);
    const names = keys[1]!.split(",").map((k) => k.trim());
    expect(Object.keys(envelope ? envelope.data : (body as object)), where).toEqual(expect.arrayContaining(names));
  } else if (reason !== null) {
    expect(envelope, where).toMatchObject({ success: false, data: { code: reason[1] } });
  } else {
    expect(envelope?.success, where).toBe(status < 400);
  }
}

/** One bash, kept across the commands of a README so its variables carry over. */
class Shell {
  private readonly bash: ChildProcessWithoutNullStreams;
  private output = "";
  private waiter: (() => void) | undefined;
  private count = 0;

  constructor(cwd: string, headersFile: string) {
    this.bash = spawn("bash", ["--noprofile", "--norc"], { cwd, env: { PATH: process.env.PATH ?? "", HOME: cwd, LANG: "C.UTF-8" } });
    // Decoded as streams, so a Persian character split between two chunks stays whole.
    this.bash.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      this.output += chunk;
      this.waiter?.();
    });
    this.bash.stderr.setEncoding("utf8").on("data", (chunk: string) => (this.output += chunk));
    // The real curl, which also writes each answer's headers where the test reads the status.
    this.bash.stdin.write(`curl() { command curl -D '${headersFile}' "$@"; }\n`);
  }

  /** Runs `command`; resolves to what it printed and its exit status. */
  async run(command: string): Promise<{ printed: string; exit: number }> {
    const marker = `__step_${++this.count}_done__`;
    const end = new RegExp(`\\n${marker} (\\d+)\\n`);
    this.output = "";
    const done = new Promise<RegExpExecArray>((resolve) => {
      this.waiter = () => {
        const found = end.exec(this.output);
        if (found !== null) resolve(found);
      };
    });
    this.bash.stdin.write(`${command}\nprintf '\\n${marker} %s\\n' $?\n`);
    const found = await done;
    return { printed: this.output.slice(0, found.index), exit: Number(found[1]) };
  }

  close(): void {
    this.bash.stdin.end();
  }
}

describe("the READMEs' curl examples", () => {
  let stores: Stores | undefined;
  let service: ServiceProcess | undefined;
  let dir: string | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "readme-"));
    stores = await freshStores("embedded");
    // npm start with nothing configured but the ports and the data directory.
    service = await startServiceProcess({ ...stores.env, HTTP_PORT: "0", GRPC_PORT: "0" }, 90_000, "bundle");
  }, 120_000);
  afterAll(async () => {
    await service?.stop();
    await stores?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("run in order, each README on its own, and answer what their comments say", async () => {
    const port = String(service!.listening.httpPort);
    const smsCodes = () => service!.log.flatMap((entry) => (entry.sms ? [(entry.sms as { code: string }).code] : []));
    let sent = 0;
    for (const readme of READMES) {
      const blocks = curlBlocks(await readFile(join(ROOT, readme), "utf8"));
      expect(blocks, `${readme}: one block of curl examples`).toHaveLength(1);
      const cwd = await mkdtemp(join(dir!, "shell-"));
      const headersFile = join(cwd, ".headers");
      const shell = new Shell(cwd, headersFile);
      let curls = 0;
      for (const step of steps(blocks[0]!)) {
        let command = step.command.replaceAll("127.0.0.1:8080", `127.0.0.1:${port}`);
        if (/^CODE=/.test(command)) {
          // The reader copies the code from the log: the last one, once every code sent so far is there.
          const codes = await eventually(async () => smsCodes(), (c) => c.length >= sent);
          command = command.replace(/^CODE=\S*/, `CODE=${codes.at(-1)!}`);
        }
        await rm(headersFile, { force: true });
        const { printed, exit } = await shell.run(command);
        expect(exit, `${command}\n${printed}`).toBe(0);
        if (!isCurl(command)) continue;
        curls++;
        expect(step.expected, `${readme}: no expected answer beside\n${step.command}`).toBeDefined();
        const headers = await readFile(headersFile, "utf8");
        const status = Number([...headers.matchAll(/^HTTP\/[\d.]+ (\d{3})/gm)].at(-1)![1]);
        check(step, status, JSON.parse(printed));
        if (command.includes("/send-otp/") && status === 200) sent++;
      }
      shell.close();
      expect(curls, `${readme}: curl commands run`).toBeGreaterThan(0);
    }
  }, 120_000);
});
