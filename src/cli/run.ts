/**
 * Runs `identity ARGS`: finds the command, reads its arguments, does its work, and
 * turns the outcome into an exit status with one line: on stdout what was done (0),
 * on stderr why not (2 a bad argument, 1 a failure). Never a stack trace: the
 * operator needs the reason, and the reason is always one line here.
 */
import { ConfigError } from "../config.js";
import { AppError, UnavailableError } from "../core/errors.js";
import { InstanceLockError } from "../store/instance-lock.js";
import { parseCommandArgs } from "./args.js";
import { COMMANDS, groupHelp, GROUPS, TOP_HELP } from "./commands.js";
import { CommandFailure, UsageError } from "./errors.js";

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

const PROCESS_OUTPUT: Output = {
  out: (text) => void process.stdout.write(`${text}\n`),
  err: (text) => void process.stderr.write(`${text}\n`),
};

/** Runs one command line; returns the exit status. */
export async function runCli(argv: readonly string[], output: Output = PROCESS_OUTPUT): Promise<number> {
  const [first = "", second = ""] = argv;
  if (first === "-h" || first === "--help") return helped(output, TOP_HELP);
  const command = COMMANDS.find((c) => c.name === first || c.name === `${first} ${second}`);
  if (command === undefined) {
    const group = GROUPS.includes(first);
    if (group && (second === "-h" || second === "--help")) return helped(output, groupHelp(first));
    const problem = first === "" ? "missing command" : group ? (second === "" ? `missing ${first} command` : `unknown command "${first} ${second}"`) : `unknown command "${first}"`;
    output.err(`identity: ${problem} (see identity${group ? ` ${first}` : ""} --help)`);
    return 2;
  }
  const rest = argv.slice(command.name.split(" ").length);
  try {
    const args = parseCommandArgs(command, rest);
    if (args.help) return helped(output, command.help);
    const run = await command.load();
    output.out(await run(args));
    return 0;
  } catch (error) {
    const { status, line } = outcomeOf(error);
    output.err(`identity ${command.name}: ${line}${status === 2 ? ` (see identity ${command.name} --help)` : ""}`);
    return status;
  }
}

function helped(output: Output, help: string): number {
  output.out(help);
  return 0;
}

/** The exit status and the line an error earns. */
function outcomeOf(error: unknown): { status: 1 | 2; line: string } {
  if (error instanceof UsageError) return { status: 2, line: error.message };
  if (error instanceof AppError) return appErrorOutcome(error);
  if (error instanceof UnavailableError) return { status: 1, line: `the ${error.dependency === "cache" ? "cache (Redis)" : error.dependency} did not answer: ${firstLine(error.message)}` };
  if (error instanceof CommandFailure || error instanceof ConfigError || error instanceof InstanceLockError) return { status: 1, line: error.message };
  return { status: 1, line: firstLine(error instanceof Error ? error.message : String(error)) };
}

/** Refusals of what was typed are bad arguments (the commands name the argument,
 * see typed.ts); the others, failures. */
function appErrorOutcome(error: AppError): { status: 1 | 2; line: string } {
  const line = error.message === error.reason ? error.reason.replaceAll("_", " ") : error.message;
  return { status: error.reason === "invalid_phone" || error.reason === "validation_error" ? 2 : 1, line };
}

function firstLine(text: string): string {
  return text.split("\n", 1)[0] ?? "";
}
