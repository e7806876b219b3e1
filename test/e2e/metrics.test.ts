// /metrics and the probes of the compiled daemon as PID 1 (init --http): real processes' memory
// and CPU from /proc, checked with the real promtool; and how long a scrape of 1000 services
// takes.

import { expect, test } from "bun:test";
import { AS_ROOT } from "../helpers/privilege.ts";
import { promtoolCheck } from "../helpers/promtool.ts";
import { Zinit } from "../helpers/zinit.ts";

let z: Zinit;
let base = "";

/** The daemon's HTTP address, from system_http_access (it was started on port 0). */
async function httpBase(d: Zinit): Promise<string> {
  const access = (await d.rpc("system_http_access")) as { address: string };
  return `http://${access.address}`;
}

AS_ROOT.beforeAll(async () => {
  z = await Zinit.boot({
    services: {
      "sleeper.yaml": "exec: sleep 1000\n",
      "family.yaml": "exec: sh -c 'sleep 1000 & sleep 1000 & wait'\n",
      "burner.yaml":
        "exec: sh -c 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; sleep 1000'\n",
      "failing.yaml": "exec: sleep 1000\ntest: 'false'\n",
    },
    extraArgs: ["--http", "127.0.0.1:0"],
  });
  await z.waitState("family", "Running");
  base = await httpBase(z);
});

AS_ROOT.afterAll(async () => {
  await z?.stop();
});

const sampleOf = (text: string, prefix: string) =>
  Number(
    text
      .split("\n")
      .find((l) => l.startsWith(prefix))
      ?.split(" ")
      .at(-1),
  );

AS_ROOT.describe("metrics of real processes", () => {
  test("RSS, CPU seconds and processes from /proc; promtool accepts the page", async () => {
    // The burner spends a moment of CPU before it sleeps; the failing check has ended once (on
    // a loaded machine that can take longer than the other services' start).
    await z.waitFor(
      async () => {
        const t = await (await fetch(`${base}/metrics`)).text();
        return (
          sampleOf(t, 'zinit_service_cpu_seconds_total{service="burner"}') > 0 &&
          sampleOf(t, 'zinit_service_probe_failures_total{service="failing",probe="ready"}') > 0
        );
      },
      30_000,
      "burner's CPU time and failing's first failed check",
    );
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(sampleOf(text, 'zinit_service_processes{service="family"}')).toBe(3);
    expect(sampleOf(text, 'zinit_service_processes{service="sleeper"}')).toBe(1);
    const familyRss = sampleOf(text, 'zinit_service_memory_rss_bytes{service="family"}');
    const sleeperRss = sampleOf(text, 'zinit_service_memory_rss_bytes{service="sleeper"}');
    expect(sleeperRss).toBeGreaterThan(100_000);
    expect(familyRss).toBeGreaterThan(sleeperRss);
    expect(
      sampleOf(text, 'zinit_service_probe_failures_total{service="failing",probe="ready"}'),
    ).toBeGreaterThan(0);
    expect(sampleOf(text, "process_resident_memory_bytes ")).toBeGreaterThan(10_000_000);
    expect(sampleOf(text, "process_open_fds ")).toBeGreaterThan(3);
    const verdict = await promtoolCheck(text);
    if (verdict !== null) expect(verdict).toEqual({ code: 0, stdout: "", stderr: "" });
  });

  test("/readyz of named services and of all; /healthz", async () => {
    const ready = await fetch(`${base}/readyz?service=sleeper,family`);
    expect(ready.status).toBe(200);
    const all = await fetch(`${base}/readyz`);
    expect(all.status).toBe(503);
    const body = (await all.json()) as { not_ready: { name: string }[] };
    expect(body.not_ready.map((s) => s.name)).toEqual(["failing"]);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });
});

AS_ROOT.test(
  "1000 services: how long a scrape takes",
  async () => {
    const services: Record<string, string> = {};
    for (let i = 0; i < 1000; i++)
      services[`s${String(i).padStart(4, "0")}.yaml`] = "exec: sleep 1000\n";
    const big = await Zinit.boot({ services, extraArgs: ["--http", "127.0.0.1:0"] });
    try {
      const url = await httpBase(big);
      await big.waitFor(
        async () => (await fetch(`${url}/readyz`)).status === 200,
        60_000,
        "1000 running",
      );
      const times: number[] = [];
      let text = "";
      for (let i = 0; i < 21; i++) {
        const t0 = performance.now();
        text = await (await fetch(`${url}/metrics`)).text();
        times.push(performance.now() - t0);
        await Bun.sleep(20);
      }
      times.sort((a, b) => a - b);
      console.log(
        `metrics, 1000 services as PID 1: median ${times[10]?.toFixed(1)} ms, min ${times[0]?.toFixed(1)} ms, ${text.length} bytes`,
      );
      expect(
        text
          .split("\n")
          .filter((l) => l.startsWith("zinit_service_processes{") && l.endsWith(" 1")),
      ).toHaveLength(1000);
      // Generous for a shared machine; the measured figure is in the README.
      expect(times[10]).toBeLessThan(500);
    } finally {
      await big.stop();
    }
  },
  120_000,
);
