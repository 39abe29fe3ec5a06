/** The /api router: fixed paths, `{name}` parameters, 405/OPTIONS answers. */
import { describe, expect, it } from "vitest";
import { createRouter, type Handler } from "../bridge/http/router.js";

const noop: Handler = () => {};

describe("router", () => {
  const router = createRouter()
    .add("GET", "/api/sessions", noop)
    .add("DELETE", "/api/sessions/{id}/", noop)
    .add("GET", "/api/admin/users/{id}", noop)
    .add("PATCH", "/api/admin/users/{id}", noop)
    .add("POST", "/api/admin/users/{id}/logout-all", noop)
    .add("GET", "/api/admin/users/search", noop);

  it("matches a parameter segment and decodes it", () => {
    expect(router.find("DELETE", "/api/sessions/abc_-1")).toMatchObject({ params: { id: "abc_-1" } });
    expect(router.find("DELETE", "/api/sessions/a%20b")).toMatchObject({ params: { id: "a b" } });
    expect(router.find("POST", "/api/admin/users/42/logout-all")).toMatchObject({ params: { id: "42" } });
  });

  it("prefers a fixed path over a pattern, and gives fixed paths no parameters", () => {
    expect(router.find("GET", "/api/admin/users/search")).toMatchObject({ params: {} });
    expect(router.find("GET", "/api/sessions")).toMatchObject({ params: {} });
  });

  it("does not match an empty or extra segment, or malformed percent-encoding", () => {
    expect(router.find("DELETE", "/api/sessions/")).toBeUndefined();
    expect(router.find("DELETE", "/api/sessions/a/b")).toBeUndefined();
    expect(router.find("DELETE", "/api/sessions/%E0%A4%A")).toBeUndefined();
  });

  it("answers 405 with Allow for another method, and OPTIONS with a handler", () => {
    expect(router.find("POST", "/api/sessions/x")).toEqual({ allow: "DELETE, OPTIONS", route: "/api/sessions/{id}/" });
    expect(router.find("DELETE", "/api/admin/users/x")).toEqual({ allow: "GET, PATCH, HEAD, OPTIONS", route: "/api/admin/users/{id}" });
    expect(router.find("OPTIONS", "/api/admin/users/x")).toHaveProperty("handler");
  });

  it("names each match by its route as it was added, never by the raw path", () => {
    expect(router.find("DELETE", "/api/sessions/abc")).toMatchObject({ route: "/api/sessions/{id}/" });
    expect(router.find("GET", "/api/sessions")).toMatchObject({ route: "/api/sessions" });
    expect(router.find("OPTIONS", "/api/admin/users/7")).toMatchObject({ route: "/api/admin/users/{id}" });
  });

  it("refuses a route defined twice", () => {
    expect(() => createRouter().add("GET", "/a/{id}", noop).add("GET", "/a/{id}/", noop)).toThrow(/defined twice/);
  });
});
