// The page: the key form, drop zone and options, one card per photo followed live over the
// websocket, results with a compare slider and downloads, and the photos of earlier visits.

import { Api, randomId } from "./api.js";
import { Card, download, stemOf } from "./cards.js";
import { ApiError, explainFailure, explainUpload } from "./errors.js";
import { Live } from "./live.js";
import { LocalHistory, forgetKey, saveKey, savedKey } from "./storage.js";

const $ = (id) => document.getElementById(id);
const template = $("card-template");

const page = {
  config: {},
  api: null,
  live: null,
  history: null,
  cards: [], // cards of this visit, in the order added
  byId: new Map(), // image id -> card (this visit's and history's)
};

// ---------- key ----------

function showKeyForm(message = "") {
  $("work-section").hidden = true;
  $("sign-out").hidden = true;
  $("connection").hidden = true;
  $("key-section").hidden = false;
  const input = $("key-input");
  const devKey = page.config.development_key;
  if (devKey && !input.value) input.value = devKey;
  $("key-hint").textContent = devKey
    ? "This server runs in development mode: its development key is filled in."
    : "";
  const error = $("key-error");
  error.textContent = message;
  error.hidden = !message;
  input.setAttribute("aria-invalid", String(Boolean(message)));
  input.focus();
}

function signOut(message = "") {
  if (page.live) page.live.stop();
  page.live = null;
  forgetKey();
  for (const card of page.byId.values()) card.release();
  for (const card of page.cards) card.release();
  page.cards = [];
  page.byId.clear();
  $("cards").replaceChildren();
  $("history").replaceChildren();
  $("history-section").hidden = true;
  $("key-input").value = "";
  refreshButtons();
  showKeyForm(message);
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = $("key-input").value.trim();
  if (!key) {
    showKeyForm("Enter your API key.");
    return;
  }
  saveKey(key);
  startWork(key);
});

$("sign-out").addEventListener("click", () => signOut());

// ---------- connection ----------

function showConnection(state, retryIn) {
  const el = $("connection");
  el.hidden = false;
  el.dataset.state = state;
  if (state === "online") {
    el.textContent = "Live";
  } else if (state === "connecting") {
    el.textContent = "Connecting…";
  } else {
    const when = retryIn > 0 ? ` Reconnecting in ${retryIn} s.` : "";
    el.textContent = navigator.onLine
      ? `Offline: updates are paused.${when}`
      : `You are offline.${when}`;
  }
}

async function startWork(key) {
  page.api = new Api(key);
  $("key-section").hidden = true;
  $("work-section").hidden = false;
  $("sign-out").hidden = false;
  page.live = new Live(page.config.websocket_url, key, {
    onConnection: showConnection,
    onOwner: (owner) => loadHistory(owner),
    onImage: (id, update) => onImage(id, update),
    onUnauthorized: () => signOut("That API key was not accepted. Check it and try again."),
  });
  page.live.start();
  $("choose").focus();
  loadModels();
}

async function loadModels() {
  try {
    const catalogue = await page.api.models();
    const select = $("model");
    select.replaceChildren();
    for (const model of catalogue.models) {
      const option = document.createElement("option");
      option.value = model.default ? "" : model.name;
      option.textContent = model.default ? `${model.name} (default)` : model.name;
      option.dataset.description =
        `${model.description}. Sees ${model.input_size.width} × ${model.input_size.height} px. ` +
        `Licence: ${model.licence}`;
      select.append(option);
    }
    $("model-field").hidden = catalogue.models.length < 2;
    describeModel();
  } catch {
    $("model-field").hidden = true;
  }
}

function describeModel() {
  const option = $("model").selectedOptions[0];
  $("model-description").textContent = option ? option.dataset.description : "";
}
$("model").addEventListener("change", describeModel);

// ---------- options ----------

for (const radio of document.querySelectorAll('input[name="background"]')) {
  radio.addEventListener("change", () => {
    $("colour").disabled = !document.querySelector('input[name="background"][value="colour"]').checked;
  });
}

function options() {
  const colour = document.querySelector('input[name="background"][value="colour"]').checked;
  return {
    format: $("format").value,
    background: colour ? $("colour").value : "transparent",
    model: $("model-field").hidden ? "" : $("model").value,
  };
}

// ---------- adding photos ----------

const dropZone = $("drop-zone");
$("choose").addEventListener("click", () => $("file-input").click());
$("file-input").addEventListener("change", (event) => {
  addFiles(event.target.files);
  event.target.value = "";
});
for (const name of ["dragenter", "dragover"]) {
  dropZone.addEventListener(name, (event) => {
    event.preventDefault();
    dropZone.classList.add("dragging");
  });
}
for (const name of ["dragleave", "drop"]) {
  dropZone.addEventListener(name, () => dropZone.classList.remove("dragging"));
}
dropZone.addEventListener("drop", (event) => {
  event.preventDefault();
  addFiles(event.dataTransfer.files);
});
// A file dropped beside the zone must not make the browser leave the page.
window.addEventListener("dragover", (event) => event.preventDefault());
window.addEventListener("drop", (event) => event.preventDefault());

function addFiles(files) {
  for (const file of files) {
    const card = new Card(template, file.name);
    card.file = file;
    card.idempotencyKey = randomId();
    card.showOriginal(file);
    card.set("ready", "Ready", "Press Remove backgrounds to start.");
    wireCard(card);
    page.cards.push(card);
    $("cards").append(card.el);
  }
  refreshButtons();
}

function wireCard(card) {
  card.q(".download-cutout").addEventListener("click", () => {
    if (card.cutoutUrl) download(card.cutoutUrl, `${stemOf(card.name)}-cutout.${card.format}`);
  });
  card.q(".download-mask").addEventListener("click", () => downloadMask(card));
  card.q(".retry").addEventListener("click", () => reprocess(card));
  card.q(".remove").addEventListener("click", () => removeCard(card));
}

async function removeCard(card) {
  if (card.retryTimer) clearTimeout(card.retryTimer);
  card.el.remove();
  card.release();
  page.cards = page.cards.filter((c) => c !== card);
  if (card.id) {
    page.byId.delete(card.id);
    if (card.fromHistory && page.history) await page.history.remove(card.id);
  }
  if (!$("history").children.length) $("history-section").hidden = true;
  refreshButtons();
  $("choose").focus();
}

function refreshButtons() {
  const ready = page.cards.filter((c) => c.state === "ready").length;
  $("start").disabled = ready === 0;
  $("start").textContent = ready > 1 ? `Remove backgrounds (${ready} photos)` : "Remove backgrounds";
  const completed = page.cards.filter((c) => c.state === "completed").length;
  $("download-all").disabled = completed === 0;
  const finished = page.cards.filter((c) => ["completed", "rejected"].includes(c.state)).length;
  $("clear").disabled = finished === 0;
  $("empty").hidden = page.cards.length > 0;
}

$("clear").addEventListener("click", () => {
  for (const card of [...page.cards]) {
    if (["completed", "rejected"].includes(card.state)) {
      card.el.remove();
      card.release();
      page.cards = page.cards.filter((c) => c !== card);
    }
  }
  refreshButtons();
});

// ---------- uploading ----------

$("start").addEventListener("click", () => {
  const chosen = options();
  for (const card of page.cards.filter((c) => c.state === "ready")) {
    card.options = chosen;
    card.format = chosen.format;
    upload(card);
  }
  refreshButtons();
});

async function upload(card) {
  card.set("uploading", "Uploading…");
  try {
    const accepted = await page.api.upload(card.file, card.options, card.idempotencyKey);
    card.id = accepted.id;
    card.newTask(accepted.task_id);
    page.byId.set(card.id, card);
    card.set("queued", "Queued", "Waiting for a worker…");
    if (page.history) {
      await page.history.add({ id: card.id, name: card.name, at: new Date().toISOString() });
    }
    page.live.follow([card.id]);
  } catch (error) {
    uploadFailed(card, error);
  }
  refreshButtons();
}

function uploadFailed(card, error) {
  if (!(error instanceof ApiError)) error = new ApiError(0, "network", String(error));
  if (error.code === "unauthorized") {
    signOut("Your API key is no longer accepted. Enter a valid key.");
    return;
  }
  const { title, action } = explainUpload(error, page.config);
  if (error.retriable) {
    const seconds = Math.max(1, error.retryAfter ?? (error.code === "network" ? 3 : 5));
    // A 503 or 429 means nothing was stored: the next try is a new request. After a network
    // failure the same Idempotency-Key is sent again, so an upload that did arrive is
    // answered, not made twice.
    if (error.status === 503 || error.status === 429) card.idempotencyKey = randomId();
    card.set("waiting", title, `${action} Next try in ${seconds} s.`);
    card.retryTimer = setTimeout(() => upload(card), seconds * 1000);
    return;
  }
  card.set("rejected", title, action);
}

async function reprocess(card) {
  card.set("queued", "Queued again", "Waiting for a worker…");
  try {
    const accepted = await page.api.reprocess(card.id, randomId());
    card.newTask(accepted.task_id);
    page.live.follow([card.id]);
  } catch (error) {
    if (error instanceof ApiError && error.code === "unauthorized") {
      signOut("Your API key is no longer accepted. Enter a valid key.");
      return;
    }
    const { title, action } = explainUpload(error, page.config);
    card.set("failed", title, action);
  }
}

// ---------- following ----------

function onImage(id, update) {
  const card = page.byId.get(id);
  if (!card || !card.accepts(update)) return;
  if (update.status === "queued") {
    card.set("queued", "Queued", "Waiting for a worker…");
  } else if (update.status === "processing") {
    card.set("processing", "Removing the background…");
  } else if (update.status === "completed") {
    showResult(card);
  } else if (update.status === "failed") {
    const { title, action } = explainFailure(update.error?.reason, update.error?.message);
    card.set("failed", title, action);
  }
  refreshButtons();
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The websocket can tell of a completion a moment before the read model behind the API has
// applied it (409 result_not_ready): wait for it a little, with growing pauses.
async function completedImage(card) {
  for (let pause = 200; ; pause *= 2) {
    try {
      const image = await page.api.image(card.id);
      if (image.status === "completed" || pause > 6400) {
        return [image, await page.api.result(card.id, "cutout")];
      }
    } catch (error) {
      if (!(error instanceof ApiError && error.code === "result_not_ready") || pause > 6400) {
        throw error;
      }
    }
    await sleep(pause);
  }
}

async function showResult(card) {
  try {
    const [image, cutout] = await completedImage(card);
    const task = image.current_task || {};
    card.format = task.options?.output_format || (cutout.type === "image/webp" ? "webp" : "png");
    card.showCutout(cutout, Boolean(card.file));
    const seconds = typeof task.duration_ms === "number" ? (task.duration_ms / 1000).toFixed(1) : null;
    card.set("completed", "Done", seconds ? `Processed in ${seconds} s.` : "");
  } catch (error) {
    const { title, action } = explainUpload(
      error instanceof ApiError ? error : new ApiError(0, "network", String(error)),
      page.config,
    );
    card.set("failed", title, action);
  }
  refreshButtons();
}

async function downloadMask(card) {
  try {
    const mask = await page.api.result(card.id, "mask");
    download(card.objectUrl(mask), `${stemOf(card.name)}-mask.png`);
  } catch (error) {
    showPageMessage(`The mask could not be downloaded: ${error.message}`);
  }
}

$("download-all").addEventListener("click", async () => {
  const done = page.cards.filter((c) => c.state === "completed" && c.id);
  const button = $("download-all");
  button.disabled = true;
  button.textContent = "Preparing ZIP…";
  try {
    const zip = await page.api.archive(
      done.map((c) => ({ id: c.id, name: c.name })),
      true,
    );
    const url = URL.createObjectURL(zip);
    download(url, "clearcut-results.zip");
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (error) {
    showPageMessage(`The ZIP could not be made: ${error.message}`);
  } finally {
    button.textContent = "Download all (ZIP)";
    refreshButtons();
  }
});

function showPageMessage(text) {
  const el = $("page-message");
  el.textContent = text;
  el.hidden = !text;
}

// ---------- history ----------

async function loadHistory(owner) {
  if (page.history && page.history.owner === owner) return;
  page.history = new LocalHistory(owner);
  page.history.owner = owner;
  const items = await page.history.recent();
  const earlier = items.filter((item) => !page.byId.has(item.id));
  for (const item of earlier) {
    const card = new Card(template, item.name || item.id);
    card.id = item.id;
    card.fromHistory = true;
    card.set("queued", "Loading…");
    wireCard(card);
    page.byId.set(item.id, card);
    $("history").append(card.el);
  }
  $("history-section").hidden = earlier.length === 0;
  page.live.follow(earlier.map((item) => item.id));
}

// ---------- start ----------

async function boot() {
  try {
    page.config = await new Api(null).pageConfig();
  } catch {
    page.config = {};
  }
  if (page.config.max_body_bytes) {
    const mb = Math.round(page.config.max_body_bytes / (1024 * 1024));
    $("limits").textContent = `JPEG, PNG, WebP, GIF or TIFF, up to ${mb} MB each; several at once.`;
  }
  if (!page.config.websocket_url) {
    showPageMessage("The server cannot be reached. Reload the page in a moment.");
  }
  const key = savedKey();
  if (key) startWork(key);
  else showKeyForm();
  refreshButtons();
}

boot();
