// `--help` text in the layout of upstream's clap 2 output, with upstream's `about` strings.

import { BUILD_LINE } from "../version.ts";
import { GLOBAL_OPTIONS, type OptionSpec, VERBS, type Verb, type VerbSpec } from "./args.ts";

function table(rows: Array<[string, string]>): string[] {
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `    ${left.padEnd(width)}    ${right}`.trimEnd());
}

function optionRow(o: OptionSpec): [string, string] {
  const names = o.short ? `-${o.short}, --${o.long}` : `    --${o.long}`;
  const value = o.value ? ` <${o.value}>` : "";
  const suffix = o.default === undefined ? "" : ` [default: ${o.default}]`;
  return [names + value, o.help + suffix];
}

/** The verb's own options first; globals whose short name the verb reuses lose it (`log -s`). */
function optionsFor(verb: Verb, spec: VerbSpec): OptionSpec[] {
  const taken = new Set(spec.options.map((o) => o.short));
  const relevant =
    verb === "init" ? GLOBAL_OPTIONS.filter((o) => o.long !== "json") : GLOBAL_OPTIONS;
  const globals = relevant.map((o) =>
    o.short && taken.has(o.short) ? { long: o.long, value: o.value, help: o.help } : o,
  );
  return [...spec.options, ...globals];
}

function section(title: string, rows: Array<[string, string]>): string[] {
  return rows.length === 0 ? [] : ["", `${title}:`, ...table(rows)];
}

export function helpText(defaultSocket: string, verb?: Verb): string {
  if (verb === undefined) {
    const verbs = (Object.keys(VERBS) as Verb[]).sort();
    const socket = GLOBAL_OPTIONS.map((o) =>
      o.long === "socket" ? { ...o, default: defaultSocket } : o,
    );
    return [
      BUILD_LINE,
      "ThreeFold Tech, https://github.com/threefoldtech",
      "A runit replacement",
      "",
      "USAGE:",
      "    zinit [OPTIONS] [SUBCOMMAND]",
      ...section("OPTIONS", socket.map(optionRow)),
      ...section(
        "SUBCOMMANDS",
        verbs.map((v) => [v, VERBS[v].about]),
      ),
      "",
      "Without a subcommand zinit runs 'list'. Options may come before or after the subcommand.",
      "",
      "ENVIRONMENT:",
      ...table([
        ["ZINIT_SOCKET", "default for --socket"],
        ["ZINIT_TIMEOUT", "seconds to wait for each reply from the daemon (default 60)"],
      ]),
      "",
    ].join("\n");
  }
  const spec: VerbSpec = VERBS[verb];
  const usage = spec.positionals.map(
    (p) => (p.required ? `<${p.name}>` : `[${p.name}]`) + (p.variadic ? "..." : ""),
  );
  return [
    `zinit-${verb}`,
    spec.about,
    "",
    "USAGE:",
    `    zinit ${verb} [OPTIONS]${usage.length > 0 ? ` ${usage.join(" ")}` : ""}`,
    ...section(
      "ARGS",
      spec.positionals.map((p) => [
        `<${p.name}>`,
        p.help + (p.default === undefined ? "" : ` [default: ${p.default}]`),
      ]),
    ),
    ...section(
      "OPTIONS",
      optionsFor(verb, spec).map((o) =>
        o.long === "socket" ? optionRow({ ...o, default: defaultSocket }) : optionRow(o),
      ),
    ),
    "",
  ].join("\n");
}
