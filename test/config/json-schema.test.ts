// schema/service.schema.json: generated from the loader's own schema, kept in the repo, and
// checked with ajv (a real JSON Schema validator) against the examples and the fixtures. Every
// good fixture must load and validate; every bad one must fail both, the loader with the error
// line written in its first comment.

import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import Ajv from "ajv";
import { SCHEMA_PATH, serviceSchemaText } from "../../build/schema.ts";
import { readConfigFile } from "../../src/config/file.ts";
import { ConfigFileError, parseService } from "../../src/config/schema.ts";
import { readYaml } from "../../src/config/yaml.ts";

const ROOT = resolve(import.meta.dir, "../..");
const FIXTURES = join(import.meta.dir, "fixtures");

const schema = JSON.parse(readFileSync(SCHEMA_PATH, "utf8")) as Record<string, unknown>;
const ajv = new Ajv({ allErrors: true });
const validate = ajv.compile(schema);

/** What an editor's YAML language server hands the JSON Schema: the file as YAML 1.2 JSON. */
const asJson = (path: string) => readYaml(readConfigFile(path), "json").value;

const yamlFiles = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => join(dir, f));

test("schema/service.schema.json is what `npm run schema` generates", () => {
  // If this fails: run `npm run schema` and commit the result.
  expect(readFileSync(SCHEMA_PATH, "utf8")).toBe(serviceSchemaText());
});

test("it is a valid draft-07 schema that names itself and requires exec", () => {
  expect(ajv.validateSchema(schema)).toBe(true);
  expect(schema.$schema).toBe("http://json-schema.org/draft-07/schema#");
  expect(schema.$id).toBe(
    "https://github.com/threefoldtech/zinit/releases/latest/download/service.schema.json",
  );
  expect(schema.required).toEqual(["exec"]);
  // Every key the loader knows is described, with a type and a description.
  const properties = schema.properties as Record<string, Record<string, unknown>>;
  expect(Object.keys(properties)).toContain("health");
  for (const [key, property] of Object.entries(properties)) {
    expect([key, typeof property.description]).toEqual([key, "string"]);
    expect([key, Object.keys(property).some((k) => ["type", "anyOf"].includes(k))]).toEqual([
      key,
      true,
    ]);
  }
});

describe("good files validate and load", () => {
  const files = [...yamlFiles(join(ROOT, "examples")), ...yamlFiles(join(FIXTURES, "good"))];
  test.each(files.map((f) => [f.slice(ROOT.length + 1), f]))("%s", (_, path) => {
    expect(validate(asJson(path)) ? [] : validate.errors).toEqual([]);
    expect(() => parseService(readConfigFile(path), path)).not.toThrow();
  });
});

describe("bad files fail both", () => {
  const files = yamlFiles(join(FIXTURES, "bad"));
  test.each(files.map((f) => [f.slice(ROOT.length + 1), f]))("%s", (_, path) => {
    const text = readConfigFile(path);
    const expected = /^# error: (.*)$/m.exec(text)?.[1];
    let message = "";
    try {
      parseService(text, path);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigFileError);
      message = (err as Error).message;
    }
    expect(message).toBe(`${path}:${expected}`);
    expect(validate(asJson(path))).toBe(false);
  });
});
