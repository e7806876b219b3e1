// Writes schema/service.schema.json, the JSON Schema of a service file, from the valibot schema
// the loader validates with (src/config/schema.ts), so editors and CI check files by the same
// rules zinit loads them by.
//
//   bun build/schema.ts            (npm run schema) regenerates the file
//
// Most of it converts directly. Values checked by custom code carry their JSON Schema as valibot
// metadata (src/config/fields.ts `field`), which the converter copies; a map whose "is it a
// map" check hides its object from the converter names that object in `jsonSchemaOf`, and is
// described as that object.

import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type ConversionConfig, toJsonSchema } from "@valibot/to-json-schema";
import type * as v from "valibot";
import { ServiceFile } from "../src/config/schema.ts";

export const SCHEMA_PATH = join(resolve(import.meta.dir, ".."), "schema/service.schema.json");

/** Where the release publishes the file (build/build.ts copies it next to the binaries). */
export const SCHEMA_URL =
  "https://github.com/threefoldtech/zinit/releases/latest/download/service.schema.json";

const config: ConversionConfig = {
  target: "draft-07",
  // The file as written, not the config it becomes.
  typeMode: "input",
  overrideAction: ({ valibotAction }) => {
    if (valibotAction.type !== "metadata") return undefined;
    const of = (valibotAction as v.MetadataAction<unknown, Record<string, unknown>>).metadata
      .jsonSchemaOf;
    return of === undefined ? undefined : convert(of as v.GenericSchema);
  },
};

function convert(schema: v.GenericSchema): Record<string, unknown> {
  const { $schema: _, ...json } = toJsonSchema(schema, config) as Record<string, unknown>;
  return json;
}

/** The JSON Schema document, as written to SCHEMA_PATH. */
export function serviceSchemaText(): string {
  const document = {
    $schema: "http://json-schema.org/draft-07/schema#",
    $id: SCHEMA_URL,
    ...convert(ServiceFile),
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}

if (import.meta.main) {
  writeFileSync(SCHEMA_PATH, serviceSchemaText());
  console.log(`wrote ${SCHEMA_PATH}`);
}
