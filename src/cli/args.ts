/**
 * A command's arguments, read with node:util's parseArgs (tokens, not its strict
 * mode: its messages run to several lines and speak of its own syntax) and checked
 * here, so every mistake is one short line naming the option.
 */
import { parseArgs } from "node:util";
import { UsageError } from "./errors.js";

export interface OptionSpec {
  type: "string" | "boolean";
  required?: boolean;
}

export interface ArgsSpec {
  options: Readonly<Record<string, OptionSpec>>;
  /** In order; optional ones come last. */
  positionals: readonly { name: string; optional?: boolean }[];
}

export interface ParsedArgs {
  /** `-h` or `--help` was given: nothing else is checked. */
  help: boolean;
  /** A string option's value; undefined when not given. */
  string(name: string): string | undefined;
  /** Whether a boolean option was given. */
  flag(name: string): boolean;
  positionals: string[];
}

export function parseCommandArgs(spec: ArgsSpec, argv: readonly string[]): ParsedArgs {
  // The types tell parseArgs which options take the next argument as their value.
  const options = Object.fromEntries(Object.entries(spec.options).map(([name, option]) => [name, { type: option.type }]));
  const { tokens } = parseArgs({ args: [...argv], options: { ...options, help: { type: "boolean", short: "h" } }, strict: false, allowPositionals: true, tokens: true });
  const values = new Map<string, string | true>();
  const positionals: string[] = [];
  let help = false;
  const problems: string[] = [];
  for (const token of tokens) {
    if (token.kind === "positional") positionals.push(token.value);
    if (token.kind !== "option") continue;
    if (token.name === "help") {
      help = true;
      continue;
    }
    const option = spec.options[token.name];
    if (option === undefined || token.rawName !== `--${token.name}`) problems.push(`unknown option ${token.rawName}`);
    else if (values.has(token.name)) problems.push(`option ${token.rawName} is given twice`);
    else if (option.type === "boolean") {
      if (token.value !== undefined) problems.push(`option ${token.rawName} takes no value`);
      values.set(token.name, true);
    } else {
      // `--phone --staff`: the next option is not taken for a value.
      if (token.value === undefined || (!token.inlineValue && token.value.startsWith("-"))) problems.push(`option ${token.rawName} needs a value`);
      else values.set(token.name, token.value);
    }
  }
  const result: ParsedArgs = {
    help,
    string: (name) => {
      const value = values.get(name);
      return typeof value === "string" ? value : undefined;
    },
    flag: (name) => values.get(name) === true,
    positionals,
  };
  if (help) return result;
  const [first] = problems;
  if (first !== undefined) throw new UsageError(first);
  for (const [name, option] of Object.entries(spec.options)) {
    if (option.required === true && !values.has(name)) throw new UsageError(`missing --${name}`);
  }
  const missing = spec.positionals[positionals.length];
  if (missing !== undefined && missing.optional !== true) throw new UsageError(`missing ${missing.name}`);
  const extra = positionals[spec.positionals.length];
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
  return result;
}
