import { describe, expect, test } from "bun:test";
import { MAX_NAME_BYTES, serviceNameError } from "../../src/config/names.ts";

describe("serviceNameError", () => {
  test.each([
    "web",
    "redis-6379",
    "a.b",
    "v1.2.3",
    ".hidden",
    "..double-leading",
    "trailing.",
    "my service",
    "ünïcödé",
    "x".repeat(MAX_NAME_BYTES),
  ])("accepts %j", (name) => {
    expect(serviceNameError(name)).toBeNull();
  });

  test.each([
    [undefined, "must be a string"],
    [null, "must be a string"],
    [42, "must be a string"],
    [["web"], "must be a string"],
    ["", "must not be empty"],
    [".", "must not be '.'"],
    ["..", "must not be '..'"],
    ["a/b", "must not contain '/'"],
    ["../etc/passwd", "must not contain '/'"],
    ["/abs", "must not contain '/'"],
    ["a\\b", "must not contain '\\'"],
    ["..\\x", "must not contain '\\'"],
    ["a\0b", "must not contain control characters"],
    ["a\nb", "must not contain control characters"],
    ["tab\t", "must not contain control characters"],
    ["del\u007f", "must not contain control characters"],
    ["lone\ud800", "must be valid Unicode"],
    ["x".repeat(MAX_NAME_BYTES + 1), "must be at most 250 bytes long"],
    // Counted in UTF-8 bytes, not characters: 126 two-byte letters are 252 bytes.
    ["é".repeat(126), "must be at most 250 bytes long"],
  ])("rejects %j: %s", (name, reason) => {
    expect(serviceNameError(name)).toBe(reason);
  });

  test("the longest name still fits a file name with its .yaml suffix", () => {
    expect(MAX_NAME_BYTES + ".yaml".length).toBe(255);
  });
});
