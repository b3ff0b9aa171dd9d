// The upload API, from this page's own origin, with the key in the Authorization header.

import { ApiError } from "./errors.js";

async function failure(response) {
  let body = {};
  try {
    body = await response.json();
  } catch {
    body = {};
  }
  const error = body.error || {};
  const retryAfter = Number.parseInt(response.headers.get("Retry-After") || "", 10);
  return new ApiError(
    response.status,
    error.code || `http_${response.status}`,
    error.message || response.statusText,
    error.details || {},
    Number.isFinite(retryAfter) ? retryAfter : null,
  );
}

export class Api {
  constructor(key) {
    this.key = key;
  }

  async request(path, init = {}) {
    const headers = new Headers(init.headers || {});
    if (this.key) headers.set("Authorization", `Bearer ${this.key}`);
    let response;
    try {
      response = await fetch(path, { ...init, headers, cache: "no-store" });
    } catch (err) {
      throw new ApiError(0, "network", String(err));
    }
    if (!response.ok) throw await failure(response);
    return response;
  }

  async json(path, init) {
    return (await this.request(path, init)).json();
  }

  pageConfig() {
    return this.json("/v1/page-config");
  }

  models() {
    return this.json("/v1/models");
  }

  /** 202 body of an upload; `idempotencyKey` makes a retry return the same image. */
  upload(file, options, idempotencyKey) {
    const form = new FormData();
    form.append("file", file, file.name);
    form.append("output_format", options.format);
    form.append("background", options.background);
    if (options.model) form.append("model", options.model);
    return this.json("/v1/images", {
      method: "POST",
      body: form,
      headers: { "Idempotency-Key": idempotencyKey },
    });
  }

  image(id) {
    return this.json(`/v1/images/${encodeURIComponent(id)}`);
  }

  async result(id, kind) {
    const query = `kind=${encodeURIComponent(kind)}`;
    return (await this.request(`/v1/images/${encodeURIComponent(id)}/result?${query}`)).blob();
  }

  reprocess(id, idempotencyKey) {
    return this.json(`/v1/images/${encodeURIComponent(id)}/reprocess`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": idempotencyKey },
      body: JSON.stringify({ reason: "try again from the web page" }),
    });
  }

  async archive(images, masks) {
    const response = await this.request("/v1/images/archive", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ images, masks }),
    });
    return response.blob();
  }
}

/** A random id for an Idempotency-Key (crypto.randomUUID needs a secure context). */
export function randomId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
