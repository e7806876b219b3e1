// Installs the peers the bench compares against: Debian packages through apt-get, pm2 through
// npm into bench/.peers. Idempotent; what cannot be installed is returned, never hidden.

import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { which } from "./peers/common.ts";
import { PM2_PREFIX, PM2_VERSION } from "./peers/pm2.ts";

/** Peer name → the Debian package and one program it must provide. */
const DEBIAN: Record<string, { pkg: string; program: string }> = {
  runit: { pkg: "runit", program: "runsvdir" },
  s6: { pkg: "s6", program: "s6-svscan" },
  supervisord: { pkg: "supervisor", program: "supervisord" },
  tini: { pkg: "tini", program: "tini" },
};

function run(argv: string[]): { ok: boolean; output: string } {
  try {
    const res = Bun.spawnSync(argv, {
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      stdin: "ignore",
    });
    const output = `${res.stdout.toString()}${res.stderr.toString()}`.trim();
    return { ok: res.exitCode === 0, output: output.split("\n").slice(-3).join(" | ") };
  } catch (err) {
    return { ok: false, output: String(err) };
  }
}

function aptInstall(pkgs: string[]): { ok: boolean; output: string } {
  let res = run(["apt-get", "install", "-y", "--no-install-recommends", ...pkgs]);
  if (!res.ok) {
    // A stale or missing package list is the usual cause; one refresh, one retry.
    run(["apt-get", "update"]);
    res = run(["apt-get", "install", "-y", "--no-install-recommends", ...pkgs]);
  }
  return res;
}

/** Installs what `peers` need; resolves to peer name → why it could not be installed. */
export function installPeers(peers: string[], log: (msg: string) => void): Map<string, string> {
  const failures = new Map<string, string>();
  const missing = peers.filter((p) => DEBIAN[p] && !which(DEBIAN[p].program));
  if (peers.includes("pm2") && !which("node")) missing.push("nodejs");
  if (missing.length > 0) {
    const pkgs = missing.map((p) => DEBIAN[p]?.pkg ?? p);
    log(`apt-get install ${pkgs.join(" ")}`);
    const res = aptInstall(pkgs);
    for (const p of missing) {
      const program = DEBIAN[p]?.program ?? "node";
      if (!which(program))
        failures.set(p === "nodejs" ? "pm2" : p, `apt-get install failed: ${res.output}`);
    }
  }
  if (peers.includes("pm2") && !failures.has("pm2")) {
    const pkg = join(PM2_PREFIX, "node_modules", "pm2", "package.json");
    const installed = existsSync(pkg)
      ? (JSON.parse(readFileSync(pkg, "utf8")) as { version: string }).version
      : null;
    if (installed !== PM2_VERSION) {
      log(`npm install pm2@${PM2_VERSION} into ${PM2_PREFIX}`);
      mkdirSync(PM2_PREFIX, { recursive: true });
      const res = run([
        "npm",
        "install",
        "--prefix",
        PM2_PREFIX,
        "--no-save",
        "--no-audit",
        "--no-fund",
        `pm2@${PM2_VERSION}`,
      ]);
      if (!res.ok) failures.set("pm2", `npm install failed: ${res.output}`);
    }
  }
  return failures;
}
