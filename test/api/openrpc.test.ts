import { describe, expect, test } from "bun:test";
import jsonSchema from "@json-schema-tools/meta-schema/schema.json" with { type: "json" };
import * as openrpcMeta from "@open-rpc/meta-schema";
import Ajv from "ajv";
import openrpc from "../../src/api/openrpc.json" with { type: "json" };
import { VERSION } from "../../src/version.ts";
import { testDaemon } from "../helpers/daemon.ts";

interface Method {
  name: string;
  params: { name: string; required?: boolean }[];
  errors?: { code: number; message: string }[];
}

const methods = openrpc.methods as Method[];

// The package's typings declare only the document types, not the exported schema value.
const { openrpcDocument } = openrpcMeta as unknown as { openrpcDocument: object };

function metaValidator() {
  // The meta-schemas name their own dialect in $schema; ajv knows it as draft-07.
  const strip = (schema: object): Record<string, unknown> => ({ ...schema, $schema: undefined });
  const ajv = new Ajv({ strict: false, validateFormats: false });
  // Referenced both with and without the trailing slash of its $id.
  ajv.addSchema(strip(jsonSchema));
  ajv.addSchema({ ...strip(jsonSchema), $id: "https://meta.json-schema.tools" });
  return ajv.compile(strip(openrpcDocument));
}

/** jsonrpsee-level errors, which have no "<action>: " prefix. */
const PROTOCOL_MESSAGES = new Set(["Internal error", "Too many subscriptions on the connection"]);

describe("openrpc.json", () => {
  test("validates against the OpenRPC meta-schema", () => {
    const validate = metaValidator();
    const ok = validate(openrpc);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  test("the meta-schema check is not vacuous", () => {
    const validate = metaValidator();
    const broken = structuredClone(openrpc) as { methods: Record<string, unknown>[] };
    (broken.methods[0] as Record<string, unknown>).bogus = 1;
    expect(validate(broken)).toBe(false);
    const noParams = structuredClone(openrpc) as { methods: Record<string, unknown>[] };
    delete (noParams.methods[1] as Record<string, unknown>).params;
    expect(validate(noParams)).toBe(false);
  });

  test("every schema in it compiles", () => {
    const ajv = new Ajv({ strict: false });
    ajv.addSchema({ $id: "doc", components: openrpc.components });
    for (const m of methods as unknown as { result: { schema: object } }[]) {
      const schema = JSON.parse(
        JSON.stringify(m.result.schema).replaceAll('"#/components', '"doc#/components'),
      );
      expect(() => ajv.compile(schema)).not.toThrow();
    }
  });

  test("documents exactly the methods of the table", async () => {
    const t = await testDaemon();
    expect(methods.map((m) => m.name).sort()).toEqual([...t.table.keys()].sort());
    t.close();
  });

  test("names every method once, and is the version we ship", () => {
    const names = methods.map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
    expect(openrpc.openrpc).toBe("1.2.6");
    expect(openrpc.info.version).toBe(VERSION);
  });

  test("params are what the methods read, in positional order", () => {
    const params = Object.fromEntries(
      methods.map((m) => [m.name, m.params.map((p) => `${p.name}${p.required ? "" : "?"}`)]),
    );
    expect(params).toEqual({
      "rpc.discover": [],
      service_list: [],
      service_status: ["name"],
      service_start: ["name"],
      service_stop: ["name"],
      service_monitor: ["name"],
      service_forget: ["name"],
      service_kill: ["name", "signal"],
      service_create: ["name", "content"],
      service_delete: ["name"],
      service_get: ["name"],
      service_stats: ["name"],
      system_shutdown: [],
      system_reboot: [],
      system_start_http_server: ["address"],
      system_stop_http_server: [],
      stream_currentLogs: ["name?"],
      stream_subscribeLogs: ["filter?"],
      stream_unsubscribeLogs: ["subscription"],
      service_inspect: ["name"],
      system_http_access: ["access?"],
      stream_queryLogs: [
        "names?",
        "lines?",
        "since?",
        "until?",
        "grep?",
        "after?",
        "to?",
        "limit?",
      ],
      stream_followLogs: ["names?", "grep?"],
      stream_unfollowLogs: ["subscription"],
      system_reopenLogs: [],
      service_wait: ["names", "condition?", "timeout?"],
      stream_subscribeEvents: [],
      stream_unsubscribeEvents: ["subscription"],
      system_ready: ["names?"],
    });
  });

  test("rpc.discover and upstream's 18 methods come first, in upstream's order; ours say so", () => {
    const names = methods.map((m) => m.name);
    expect(names.slice(0, 19)).toEqual([
      "rpc.discover",
      "service_list",
      "service_status",
      "service_start",
      "service_stop",
      "service_monitor",
      "service_forget",
      "service_kill",
      "service_create",
      "service_delete",
      "service_get",
      "service_stats",
      "system_shutdown",
      "system_reboot",
      "system_start_http_server",
      "system_stop_http_server",
      "stream_currentLogs",
      "stream_subscribeLogs",
      "stream_unsubscribeLogs",
    ]);
    for (const m of methods.slice(19) as unknown as { name: string; description?: string }[]) {
      if (/^stream_un(subscribe|follow)/.test(m.name)) continue;
      expect(m.description).toStartWith("Not in upstream zinit.");
    }
  });

  test("what our methods return is what their schemas say", async () => {
    const ajv = new Ajv({ strict: false });
    ajv.addSchema({ $id: "doc", components: openrpc.components });
    const resultOf = (name: string) => {
      const m = (methods as unknown as { name: string; result: { schema: object } }[]).find(
        (x) => x.name === name,
      );
      const schema = JSON.stringify(m?.result.schema).replaceAll(
        '"#/components',
        '"doc#/components',
      );
      return ajv.compile(JSON.parse(schema));
    };
    const t = await testDaemon({
      files: { web: "exec: web\ntest: check\n", job: "exec: job\noneshot: true\n" },
    });
    const check = async (method: string, params: unknown) => {
      const validate = resultOf(method);
      const answer = t.call(method, params);
      // A wait that times out is answered once the (fake) clock gets there.
      await t.sys.advance(1_000);
      const ok = validate(await answer);
      expect(validate.errors ?? []).toEqual([]);
      expect(ok).toBe(true);
    };
    await check("service_inspect", ["web"]);
    await check("service_wait", [["web", "job"], "running", 1]);
    await check("system_ready", []);
    const def = t.table.get("stream_subscribeEvents");
    if (def?.kind !== "subscribe") throw new Error("no stream_subscribeEvents");
    const items: { event: string; services?: unknown[] }[] = [];
    await def.subscribe([], (item) => items.push(item as never));
    t.sys.exit(t.sys.find("job").pid, { kind: "exited", code: 0 });
    await t.sys.flush();
    const view = ajv.compile({ $ref: "doc#/components/schemas/ServiceView" });
    const views = items.flatMap((i) => (i.event === "snapshot" ? (i.services ?? []) : [i]));
    expect(views.length).toBeGreaterThan(2);
    for (const v of views) {
      const { event: _, ...rest } = v as Record<string, unknown>;
      expect(view(rest)).toBe(true);
    }
    t.close();
  });

  test("documented errors use the codes the methods really send", () => {
    const codes = new Set([-32000, -32001, -32002, -32003, -32004, -32005, -32006, -32007, -32008]);
    for (const m of methods) {
      for (const e of m.errors ?? []) {
        expect(codes.has(e.code) || e.code === -32602 || e.code === -32603).toBe(true);
        // Real messages, never upstream's "Service not found" placeholders.
        if (!PROTOCOL_MESSAGES.has(e.message)) expect(e.message).toMatch(/^[a-z][a-z ]+: \S/);
      }
    }
  });
});
