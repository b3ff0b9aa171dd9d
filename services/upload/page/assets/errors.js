// Plain sentences for every error the API and the processor report, and what to do.

/** An error answer of the API: `{"error": {"code", "message", "details"}}`. */
export class ApiError extends Error {
  constructor(status, code, message, details = {}, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfter = retryAfter;
  }

  /** Worth retrying by itself after `retryAfter` seconds. */
  get retriable() {
    return (
      this.status === 503 ||
      this.status === 429 ||
      this.code === "network" ||
      this.code === "idempotency_key_in_use"
    );
  }
}

function megabytes(bytes) {
  return `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MB`;
}

/** `{title, action}` for an ApiError, in words a person can act on. */
export function explainUpload(error, limits = {}) {
  const max = limits.max_body_bytes ? megabytes(limits.max_body_bytes) : "the size limit";
  const min = limits.min_dimension ?? 16;
  switch (error.code) {
    case "body_too_large":
      return { title: "This file is too large.", action: `Use a photo smaller than ${max}.` };
    case "too_many_pixels":
      return {
        title: "This photo has too many pixels.",
        action: "Scale it down (for example to 6000 × 6000 or less) and add it again.",
      };
    case "unsupported_media_type":
    case "unsupported_content_type":
      return {
        title: "This is not a photo Clearcut can read.",
        action: "Choose a JPEG, PNG, WebP, GIF or TIFF image.",
      };
    case "corrupt_image":
      return {
        title: "This image is damaged or incomplete.",
        action: "Export or download it again, then add the new file.",
      };
    case "image_too_small":
      return {
        title: "This image is too small.",
        action: `Use an image at least ${min} × ${min} pixels.`,
      };
    case "empty_body":
      return { title: "This file is empty.", action: "Choose another file." };
    case "invalid_option":
      return { title: "One of the options was refused.", action: error.message };
    case "unauthorized":
      return {
        title: "Your API key was not accepted.",
        action: "Sign out and enter a valid key.",
      };
    case "rate_limited":
      return { title: "Too many requests right now.", action: "Waiting, then trying again." };
    case "service_unavailable":
      return {
        title: "Clearcut is busy or restarting.",
        action: "Nothing was lost; it is tried again automatically.",
      };
    case "idempotency_key_in_use":
      return {
        title: "An earlier try of this upload is still open.",
        action: "It is tried again automatically.",
      };
    case "network":
      return {
        title: "The server cannot be reached.",
        action: "Check your connection; it is tried again automatically.",
      };
    default:
      if (error.status === 429) {
        return { title: "Too many requests right now.", action: "Waiting, then trying again." };
      }
      return { title: "The upload was refused.", action: error.message || "Try another file." };
  }
}

const FAILURES = {
  image_missing: ["The uploaded photo was lost before it could be processed.", "Upload it again."],
  image_undecodable: ["The photo could not be decoded.", "Export it again and upload the new file."],
  image_unsupported: ["This kind of image cannot be processed.", "Convert it to JPEG or PNG."],
  model_unknown: ["The chosen model is not available.", "Try again with the default model."],
  model_unavailable: ["The model could not be loaded right now.", "Try again in a minute."],
  model_error: ["The model failed on this photo.", "Try again, or use another model."],
  storage_unavailable: ["Storage was unavailable while processing.", "Try again."],
  timeout: ["Processing took too long.", "Try again."],
  internal: ["Something went wrong while processing.", "Try again."],
};

/** `{title, action}` for a failed processing task (`reason` from ProcessingFailed). */
export function explainFailure(reason, message) {
  const known = FAILURES[reason];
  if (known) return { title: known[0], action: known[1] };
  return { title: message || "Processing failed.", action: "Try again." };
}
